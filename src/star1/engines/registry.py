"""The engine kinds: one entry per kind, each a settings class from its provider's file.

Adding a kind is one file (its settings, a subclass of :class:`~star1.engines.kind.EngineConfig`,
and the engine it makes) and one entry here; nothing else names the kinds.
"""

from __future__ import annotations

from star1.engines.bundled import BundledConfig
from star1.engines.openai_engine import OpenAIConfig
from star1.engines.transformers_engine import TransformersConfig
from star1.engines.vllm_engine import VLLMConfig

KINDS = (BundledConfig, TransformersConfig, OpenAIConfig, VLLMConfig)
