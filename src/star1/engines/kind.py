"""What every engine kind's settings have in common: the base class of the registry's entries.

An engine kind is one file that defines a subclass of :class:`EngineConfig` (its settings, with
``kind`` as a one-value ``Literal``) and the engine it makes, plus one line in
:mod:`star1.engines.registry`. The settings of one kind are closed (``extra="forbid"``): a setting
that means nothing to that kind is an error naming the kind, never silently ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from star1.engines.base import Engine


class EngineConfig(BaseModel):
    """The settings every kind has; a kind adds its own (see each provider's file)."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    length_is_failure: bool = Field(True, description="finish_reason 'length' marks the call failed")
    native_reasoning: bool | None = Field(None, description="model writes its own <think> block; None: local models by "
                                          "their chat template, served ones by a one-time probe")
    price_input_per_mtok: float | None = Field(None, ge=0, description="USD per million prompt tokens")
    price_output_per_mtok: float | None = Field(None, ge=0, description="USD per million completion tokens")

    # How the kind is written as an engine string, for error messages (registry order).
    FORM: ClassVar[str] = ""
    # Whether its engines fill ChoiceTemplate slots by likelihood (dry runs predict the requests).
    SCORES_CHOICES: ClassVar[bool] = False
    # Whether it runs a checkpoint on this machine (a folder or a hub id that star1 can fine-tune).
    LOCAL: ClassVar[bool] = False

    @classmethod
    def from_string(cls, rest: str) -> dict:
        """The settings written after ``<kind>:`` (options after ``?`` are read by the caller);
        ``ValueError`` with the reason when ``rest`` is not this kind's form."""
        raise NotImplementedError

    def engine_string(self) -> str:
        raise NotImplementedError

    def identity(self) -> str:
        """The call cache's engine key: what makes this engine's outputs differ from another's."""
        raise NotImplementedError

    def make(self) -> Engine:
        """A new engine for these settings (a local model loads on first use, not here)."""
        raise NotImplementedError

    def label(self) -> str:
        """A short, stable name for results: the engine string without options."""
        return self.engine_string().split("?")[0]

    def checkpoint(self) -> str:
        """A local kind's model, as ``from_pretrained`` takes it (a folder or a hub id)."""
        raise NotImplementedError(f"{self.kind} engines run no local checkpoint")

    def guess_native_reasoning(self) -> bool:
        """Whether the model writes its own think block, known without calling it: the setting
        if given, else the kind's own answer (local kinds read the chat template)."""
        return bool(self.native_reasoning)
