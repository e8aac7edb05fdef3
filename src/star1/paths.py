"""Where star1 keeps what it reuses across runs: the user cache folder (downloads, converted
models, the default call cache, what was learnt of servers). The bottom layer, next to ``io``:
engines, datasets and commands all find it here."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$STAR1_CACHE_DIR``, else ``$XDG_CACHE_HOME/star1``, else ``~/.cache/star1``."""
    root = os.environ.get("STAR1_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "star1")
    return Path(root)
