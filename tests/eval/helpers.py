"""Helpers shared by the eval tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

CASES = Path(__file__).with_name("cases")


def _data_path() -> Path:
    explicit = os.environ.get("STAR1_DATA_DIR")
    return Path(explicit) if explicit else Path(__file__).resolve().parents[2].parent / "shared" / "data"


def missing_data() -> str | None:
    """Why the shared snapshots cannot be read (None when they can). Module-level code asks this
    instead of calling :func:`data_dir`, so a missing folder fails those tests with this one
    message rather than stopping the collection of the whole suite."""
    path = _data_path()
    if not (path / "README.md").exists():
        return f"shared data snapshots not found at {path}; set STAR1_DATA_DIR"
    return None


def data_dir() -> Path:
    """The shared snapshots folder, for module-level parametrisation (the shared_data fixture's rule)."""
    reason = missing_data()
    if reason:
        raise RuntimeError(reason)
    return _data_path()


def read_cases(name: str) -> list[dict]:
    """Cases kept as data: one JSON object per line of ``cases/<name>.jsonl``."""
    path = CASES / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
