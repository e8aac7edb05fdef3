"""Find a dataset file: in a local snapshot folder first, else from its hub repository or URL.

A local snapshot folder is laid out like the project's shared data folder: one sub-folder per
dataset holding the original file names (``strongreject/strongreject_dataset.csv``, ...).
Downloads land in the user cache and are reused. With ``STAR1_OFFLINE=1`` or
``HF_HUB_OFFLINE=1`` nothing is downloaded and a missing snapshot is a clear error.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from star1.errors import DatasetUnavailable, InputError
from star1.io import write_bytes_atomic
from star1.paths import cache_dir


@dataclass(frozen=True)
class DatasetFile:
    """One file of a public dataset and every place it can be read from."""

    local: str  # path inside a snapshot folder, e.g. "xstest/xstest_prompts.csv"
    hub_repo: str | None = None  # Hugging Face dataset repository id
    hub_path: str | None = None  # file path inside that repository
    url: str | None = None  # a plain download URL

    @property
    def remote(self) -> str:
        if self.hub_repo:
            return f"hf://datasets/{self.hub_repo}/{self.hub_path}"
        return self.url or "(no remote location)"


def default_local_dir() -> Path | None:
    value = os.environ.get("STAR1_DATA_DIR")
    return Path(value) if value else None


def offline() -> bool:
    return any(os.environ.get(v, "") in ("1", "true", "yes") for v in ("STAR1_OFFLINE", "HF_HUB_OFFLINE"))


def local_path(file: DatasetFile, local_dir: str | os.PathLike | None = None) -> Path | None:
    """The file's path in the local snapshot folder if it is there, else None (never downloads)."""
    local_dir = Path(local_dir) if local_dir else default_local_dir()
    if local_dir is not None:
        candidate = local_dir / file.local
        if candidate.exists():
            return inside_snapshot(candidate, local_dir)
    return None


def inside_snapshot(path: Path, local_dir: Path) -> Path:
    """``path`` when, links followed, it is inside the snapshot folder ``local_dir`` (itself may
    be a link). A link out of it (to ``/etc/passwd``, ``/dev/zero``) is an :class:`InputError`:
    whatever it points to would become prompts bound for a teacher API."""
    real, root = path.resolve(), local_dir.resolve()
    if not real.is_relative_to(root):
        raise InputError(path, f"links to {real}, outside the snapshot folder {local_dir}; star1 reads "
                               "snapshot files only from inside it (copy the file in instead)")
    return path


def resolve(file: DatasetFile, local_dir: str | os.PathLike | None = None) -> Path:
    """Return a readable path for ``file``, downloading it when no snapshot has it."""
    found = local_path(file, local_dir)
    if found is not None:
        return found
    local_dir = Path(local_dir) if local_dir else default_local_dir()
    expected = f"expected {local_dir / file.local}" if local_dir else "no --local-dir given"
    if offline():
        raise DatasetUnavailable(f"{file.local}: not in the local snapshot ({expected}) and "
                                 f"downloads are off (offline mode); remote: {file.remote}")
    try:
        return _download(file)
    except Exception as exc:  # noqa: BLE001 - every download failure becomes one clear message
        raise DatasetUnavailable(f"{file.local}: not in the local snapshot ({expected}) and the "
                                 f"download from {file.remote} failed: {exc}") from exc


def _download(file: DatasetFile) -> Path:
    if file.hub_repo:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(file.hub_repo, file.hub_path, repo_type="dataset"))
    if not file.url:
        raise DatasetUnavailable(f"{file.local}: no remote location is known")
    target = cache_dir() / "downloads" / file.local
    if not target.exists():
        with urllib.request.urlopen(file.url, timeout=60) as response:  # noqa: S310 - fixed URLs
            write_bytes_atomic(target, response.read())
    return target
