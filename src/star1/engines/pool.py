"""Roles → engines: the one place where a model named on the command line or in a config becomes
a running engine.

A *role* is what a model does in a run (classifier, teacher, judge, the model under test, the
safety and refusal judges). Every role is given the same way — an engine string, an inline YAML
mapping or a mapping in a config file — and :func:`resolve_role` turns it into a validated
:class:`EngineConfig`, or says how to choose one. :class:`EnginePool` then holds one engine per
distinct *normalised* config: however a model is spelt, the roles that name it share one
instance (a local model is loaded once) and one cache identity.
"""

from __future__ import annotations

from typing import Any

from star1.engines.base import Engine
from star1.engines.cache import CachedEngine, CallCache, CallStats
from star1.engines.config import VALID_FORMS, EngineConfig, parse_engine
from star1.engines.identity import engine_identity
from star1.errors import ConfigError

ROLE_NAMES = {
    "classifier": "the classifier", "teacher": "the teacher", "judge": "the judge", "rewriter": "the rewriter",
    "model": "the model (under test, or to fine-tune)", "safety_judge": "the safety judge", "refusal_judge": "the refusal judge",
}
BUNDLED_NOTE = ("the bundled SmolLM2-135M-Instruct is the judge: this exercises the pipeline, "
                "its verdicts are not a trustworthy safety measurement")


def make_engine(spec, **overrides) -> Engine:
    """An engine from an engine string, a mapping or an :class:`EngineConfig` (no pooling)."""
    return parse_engine(spec, **overrides).make()


def resolve_role(role: str, spec: Any, how: str | None = None) -> EngineConfig:
    """The engine config of ``role``; a missing one is an error that says how to choose it
    (``how``: where it can be given; default: its flag or its config key)."""
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        how = how or f"--{role.replace('_', '-')} ENGINE, or '{role}:' in the config"
        forms = "\n  ".join(VALID_FORMS)
        raise ConfigError(f"no model for {ROLE_NAMES.get(role, role)}: give {how}. An engine is "
                          f"one of:\n  {forms}\nFor a try-out without a key or GPU, use 'bundled' "
                          "(a 135M model: fine to exercise the pipeline, not for real data).")
    return parse_engine(spec)


def namespace(stage: str, prompts=None) -> str:
    """The call cache's namespace: the stage, and the prompt set (policy pack) it used."""
    return stage if prompts is None else f"{stage}:{prompts.hash}"


def price(config: EngineConfig, prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD for that many tokens at the engine's configured prices (None: no prices given)."""
    config = parse_engine(config)
    if config.price_input_per_mtok is None and config.price_output_per_mtok is None:
        return None
    return (prompt_tokens * (config.price_input_per_mtok or 0)
            + completion_tokens * (config.price_output_per_mtok or 0)) / 1e6


def cost(config: EngineConfig, stats: CallStats) -> float | None:
    """USD for the calls in ``stats``."""
    return price(config, stats.prompt_tokens, stats.completion_tokens)


def same_model(a: EngineConfig | None, b: EngineConfig | None) -> bool:
    """Whether two roles name one model (same cache identity), however each was spelt."""
    return a is not None and b is not None and engine_identity(a) == engine_identity(b)


class EnginePool:
    """One engine per distinct engine config, created on first use, shared by every role.

    ``overrides`` apply to every engine of the pool whose kind has that setting (eval:
    ``length_is_failure=False``, a cut answer is still an answer to judge; ``batch_size`` for the
    kinds that batch). The key is the normalised config after them, so ``bundled``,
    ``{kind: bundled}`` and a YAML mapping of it share one instance.
    """

    def __init__(self, cache: CallCache | None = None, **overrides):
        self.cache = cache
        self.overrides = {k: v for k, v in overrides.items() if v is not None}
        self._engines: dict[str, Engine] = {}

    def config(self, spec) -> EngineConfig:
        config = parse_engine(spec)
        fields = type(config).model_fields
        return parse_engine(config, **{k: v for k, v in self.overrides.items() if k in fields})

    def key(self, spec) -> str:
        return self.config(spec).model_dump_json()

    def get(self, spec) -> Engine:
        config = self.config(spec)
        key = config.model_dump_json()
        if key not in self._engines:
            self._engines[key] = make_engine(config)
        return self._engines[key]

    def cached(self, spec, stage: str, prompts=None) -> CachedEngine:
        """The engine behind the pool's call cache, in the namespace of ``stage`` (and prompts)."""
        if self.cache is None:
            raise ConfigError("this engine pool has no call cache")
        return CachedEngine(self.get(spec), self.cache, namespace(stage, prompts))

    def release(self, spec) -> None:
        """Free one engine (a local model's memory) before the next one loads."""
        engine = self._engines.pop(self.key(spec), None)
        if engine is not None:
            engine.close()

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()

    def __len__(self) -> int:
        return len(self._engines)

    def __enter__(self) -> EnginePool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
