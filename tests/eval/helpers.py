"""Helpers shared by the eval tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

CASES = Path(__file__).with_name("cases")


def data_dir() -> Path:
    """The shared snapshots folder, for module-level parametrisation (the shared_data fixture's rule)."""
    explicit = os.environ.get("STAR1_DATA_DIR")
    path = Path(explicit) if explicit else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if not (path / "README.md").exists():
        raise RuntimeError(f"shared data snapshots not found at {path}; set STAR1_DATA_DIR")
    return path


def read_cases(name: str) -> list[dict]:
    """Cases kept as data: one JSON object per line of ``cases/<name>.jsonl``."""
    path = CASES / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
