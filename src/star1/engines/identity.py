"""What makes one engine's outputs differ from another's: the call cache's engine key."""

from __future__ import annotations

from star1.engines.config import EngineConfig
from star1.engines.local import local_identity


def engine_identity(config: EngineConfig) -> str:
    """What makes an engine's outputs differ from another's: the call cache's engine key.

    Remote: see :func:`star1.engines.endpoints.remote_identity` (hosted APIs by model name,
    self-hosted servers by what their /v1/models says they serve). Local: the model and its weights.
    """
    if config.kind == "openai":
        from star1.engines.endpoints import remote_identity

        return remote_identity(config)
    return local_identity(config)
