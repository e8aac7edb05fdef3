"""Model engines: one interface (:class:`Engine`), two providers, one call cache, one pool.

>>> from star1.engines import make_engine, ChatRequest
>>> engine = make_engine("bundled")
>>> [c.text for c in engine.generate([ChatRequest.chat("Say hi")])]

A model named anywhere (a role flag, a config key, the Python API) goes
``parse_engine`` (string / mapping → :class:`EngineConfig`) → :class:`EnginePool` (one engine per
distinct config, shared by every role) → :class:`CachedEngine` (the call cache, per stage).
"""

from __future__ import annotations

from star1.engines.base import ChatRequest, ChoiceTemplate, Completion, Engine, OnResult, SamplingParams
from star1.engines.cache import CachedEngine, CallCache, CallStats, call_key
from star1.engines.config import VALID_FORMS, EngineConfig, parse_engine
from star1.engines.identity import engine_identity
from star1.engines.pool import EnginePool, make_engine, resolve_role

__all__ = [
    "ChatRequest", "ChoiceTemplate", "Completion", "Engine", "OnResult", "SamplingParams",
    "CachedEngine", "CallCache", "CallStats", "call_key", "EngineConfig", "parse_engine",
    "VALID_FORMS", "make_engine", "EnginePool", "resolve_role", "engine_identity",
]
