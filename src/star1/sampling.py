"""The sampling and retry settings every LLM stage's options share, declared once.

Each stage's options (``classify``, ``deliberate``, ``score``, ``benign.rewrite``,
``benign.generate``, ``benign.score``) subclass :class:`SamplingOptions` and change only the
defaults that differ; :meth:`SamplingOptions.sampling` is the one converter to the engines'
:class:`~star1.engines.SamplingParams`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from star1.engines.base import SamplingParams
from star1.runner import RetryCause, RetryRule, retry_sampling


class SamplingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(256, ge=1, description="tokens for the answer")
    temperature: float | None = Field(0.0, ge=0, description="None: not sent (the server's default)")
    top_p: float | None = Field(1.0, gt=0, le=1, description="None: not sent (the server's default)")
    repetition_penalty: float | None = Field(None, gt=0, description="None: not sent")
    seed: int | None = Field(None, description="None: not sent")
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="the request field that carries max_tokens")
    retries: int = Field(2, ge=0, description="re-asks after unusable output")
    retry_on: list[RetryCause] = Field(["unparseable"], description="what is asked again")
    retry_resample: bool = Field(
        True, description="a retry samples anew (temperature at least 0.7, seed + attempt), so a "
                          "greedy model does not repeat its unusable answer; false: the identical "
                          "request again, as the STAR-1 reference re-asks (paper protocol)")

    def sampling(self, max_tokens: int | None = None, stop: tuple[str, ...] = ()) -> SamplingParams:
        """The sampling these options ask for (``max_tokens``: a call with its own limit)."""
        return SamplingParams(max_tokens=self.max_tokens if max_tokens is None else max_tokens,
                              temperature=self.temperature, top_p=self.top_p,
                              repetition_penalty=self.repetition_penalty, seed=self.seed, stop=stop,
                              max_tokens_field=self.max_tokens_field)

    def sampling_at(self, attempt: int, max_tokens: int | None = None, stop: tuple[str, ...] = ()) -> SamplingParams:
        """The sampling of the ``attempt``-th try: :meth:`sampling`, resampled on a retry where
        ``retry_resample`` says so."""
        sampling = self.sampling(max_tokens, stop)
        return retry_sampling(sampling, attempt) if self.retry_resample else sampling

    @property
    def retry(self) -> RetryRule:
        return RetryRule(self.retries, tuple(self.retry_on), same_request=not self.retry_resample)
