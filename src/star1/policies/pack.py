"""The policy pack in memory: categories with a definition, an objective and numbered rules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from star1.errors import Star1Error
from star1.policies.labels import build_index, match_label

CATEGORY_NAMES: tuple[str, ...] = (
    "Harassment / Hate / Discrimination",
    "Sexual / Adult",
    "Violence / Physical Harm",
    "Self-Harm",
    "Illicit / Criminal Behavior",
    "Misinformation / Disinformation",
    "Privacy / Personal Data",
    "Intellectual Property",
)
OTHER = "Other"
ACTIONS = ("refuse", "safe_complete", "comply")


class UnknownCategory(Star1Error, KeyError):
    """A category name that the pack does not define."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


@dataclass(frozen=True)
class Rule:
    number: int
    action: str  # one of ACTIONS
    text: str


@dataclass(frozen=True)
class Policy:
    name: str
    slug: str
    definition: str
    objective: str
    rules: tuple[Rule, ...]
    aliases: tuple[str, ...] = ()
    topic: str | None = None  # plain words for small classifiers; defaults to the name

    @property
    def plain_topic(self) -> str:
        return self.topic or self.name.lower()

    def citation(self, number: int) -> str:
        """How the teacher cites a rule: ``"Self-Harm rule 3"``."""
        return f"{self.name} rule {number}"

    def rule(self, number: int) -> Rule:
        for rule in self.rules:
            if rule.number == number:
                return rule
        raise UnknownCategory(f"{self.name} has no rule {number} (rules 1-{len(self.rules)})")

    def render(self) -> str:
        lines = [f"## {self.name}", f"Definition: {self.definition}",
                 f"Objective: {self.objective}", "Rules:"]
        lines += [f"{self.citation(r.number)} [{r.action}]: {r.text}" for r in self.rules]
        return "\n".join(lines)


@dataclass(frozen=True)
class PolicyPack:
    name: str
    version: str
    policies: tuple[Policy, ...]
    hash: str  # SHA-256 hex of the pack's files, see star1.policies.loader.pack_hash
    path: str
    description: str = ""
    _by_name: dict[str, Policy] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {p.name: p for p in self.policies})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.policies)

    @property
    def short_hash(self) -> str:
        return self.hash[:16]

    def get(self, name: str) -> Policy:
        try:
            return self._by_name[name]
        except KeyError:
            hint = ""
            guess = self.normalise(name) if isinstance(name, str) else None
            if guess is not None:
                hint = f" (did you mean {guess!r}?)"
            raise UnknownCategory(f"no category {name!r} in policy pack {self.name!r}{hint}; "
                                  f"categories: {', '.join(self.names)}") from None

    def render(self, names: Iterable[str]) -> str:
        """The policies of ``names`` (each must be a category name), in pack order."""
        wanted = {self.get(n).name for n in names}
        return "\n\n".join(p.render() for p in self.policies if p.name in wanted)

    @cached_property
    def _label_index(self) -> dict[str, str]:
        return build_index((p.name, (p.name, p.slug, *p.aliases)) for p in self.policies)

    def normalise(self, label: str) -> str | None:
        """The canonical category name for a free-form label, or None if unknown or ambiguous.

        See :mod:`star1.policies.labels` for exactly what matches.
        """
        other = OTHER if OTHER in self._by_name else None
        return match_label(label, self._label_index, other=other)

    def definitions(self) -> str:
        """One line per category: its name and its whole definition (what the classifier sees:
        a first sentence alone leaves out most of what a category covers)."""
        return "\n".join(f"- {p.name}: {p.definition}" for p in self.policies)
