"""Model engines: one interface (:class:`Engine`), three providers, one call cache.

>>> from star1.engines import make_engine, ChatRequest
>>> engine = make_engine("bundled")
>>> [c.text for c in engine.generate([ChatRequest.chat("Say hi")])]
"""

from __future__ import annotations

from star1.engines.base import (ChatRequest, ChoiceTemplate, Completion, Engine, OnResult,
                                SamplingParams)
from star1.engines.cache import CachedEngine, CallCache, CallStats, call_key
from star1.engines.config import VALID_FORMS, EngineConfig, parse_engine

__all__ = [
    "ChatRequest", "ChoiceTemplate", "Completion", "Engine", "OnResult", "SamplingParams",
    "CachedEngine", "CallCache", "CallStats", "call_key", "EngineConfig", "parse_engine",
    "VALID_FORMS", "make_engine",
]


def make_engine(spec: str | dict | EngineConfig, **overrides) -> Engine:
    """Build an engine from an engine string, a mapping or an :class:`EngineConfig`."""
    config = parse_engine(spec, **overrides)
    if config.kind == "openai":
        from star1.engines.openai_engine import OpenAIEngine

        return OpenAIEngine(config)
    from star1.engines.transformers_engine import TransformersEngine

    return TransformersEngine(config)
