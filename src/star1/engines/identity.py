"""What makes one engine's outputs differ from another's: the call cache's engine key."""

from __future__ import annotations

from star1.engines.config import EngineConfig
from star1.engines.local import local_identity


def engine_identity(config: EngineConfig) -> str:
    """What makes an engine's outputs differ from another's: the call cache's engine key.

    Remote: the served model's name — not where it is served, so a restarted server on another
    port, or one more replica, keeps the cache valid. Local: the model and its weights.
    """
    if config.kind == "openai":
        return f"openai:{config.model}"
    return local_identity(config)
