"""What makes one engine's outputs differ from another's: the call cache's engine key."""

from __future__ import annotations

from star1.engines.config import EngineConfig, parse_engine


def engine_identity(config: EngineConfig) -> str:
    """What makes an engine's outputs differ from another's: the call cache's engine key.

    Each kind says (``EngineConfig.identity``): a hosted model by its name, a self-hosted server
    by what its /v1/models says it serves (:func:`star1.engines.endpoints.remote_identity`), a
    local checkpoint by its weights, its precision and the engine that runs it.
    """
    return parse_engine(config).identity()
