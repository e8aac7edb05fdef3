import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path:
    explicit = os.environ.get("STAR1_DATA_DIR")
    path = Path(explicit) if explicit else REPO.parent / "shared" / "data"
    if not (path / "README.md").exists():
        raise RuntimeError(f"shared data snapshots not found at {path}; set STAR1_DATA_DIR")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of public dataset snapshots (read-only)."""
    try:
        return _shared_data()
    except RuntimeError as exc:  # one line naming the folder, not a traceback per test
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Call caches and downloads go to a per-session temp dir; the converted bundled model is
    # shared with the user cache so it is converted once per machine, not once per test run.
    if "STAR1_MODEL_CACHE" not in os.environ:
        monkeypatch.setenv("STAR1_MODEL_CACHE", os.path.expanduser("~/.cache/star1/models"))
    monkeypatch.setenv("STAR1_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "star1-cache"))
    # Nothing may be downloaded in tests: a missing snapshot must fail fast and clearly.
    monkeypatch.setenv("STAR1_OFFLINE", "1")
    # The snapshots, for star1 commands run as subprocesses too (a clean clone sets nothing).
    if not os.environ.get("STAR1_DATA_DIR") and (REPO.parent / "shared" / "data" / "README.md").exists():
        monkeypatch.setenv("STAR1_DATA_DIR", str(REPO.parent / "shared" / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
