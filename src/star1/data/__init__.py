"""Data files that ship with star1 (the demo prompts)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DEMO_PROMPTS = "demo_prompts.jsonl"


def demo_prompts_path() -> Path:
    """The bundled demo prompts: 24 harmful-intent prompts, 3 per STAR-1 category (JSONL)."""
    resource = files(__name__).joinpath(DEMO_PROMPTS)
    if isinstance(resource, Path):
        return resource
    # Installed from a zip: give callers a real file they can open by path.
    from star1.io import write_bytes_atomic
    from star1.paths import cache_dir

    target = cache_dir() / "data" / DEMO_PROMPTS
    data = resource.read_bytes()
    if not target.exists() or target.read_bytes() != data:
        write_bytes_atomic(target, data)
    return target
