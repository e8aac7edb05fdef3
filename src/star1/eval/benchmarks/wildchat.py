"""WildChat (Zhao et al., 2024, "WildChat: 1M ChatGPT Interaction Logs in the Wild"), toxic subset.

From allenai/WildChat (parquet shards ``data/train-*.parquet``; gated on the hub): the first user
turn of English conversations that OpenAI moderation flagged, then for each of the 11 moderation
categories the 100 turns with the highest score in that category (among turns flagged for it),
taking each prompt once (categories in the order below). Each reply is judged safe / unsafe.
Score: share judged safe.

No local snapshot exists here. A snapshot folder may hold the shards under ``wildchat/``
(any ``*.parquet`` below it); otherwise they are fetched with ``huggingface_hub.snapshot_download``
(shard names carry hashes, so they are matched by pattern, not listed as single files).
Offline, loading raises ``DatasetUnavailable``.
"""

from __future__ import annotations

from pathlib import Path

from star1.datasets.fetch import DatasetUnavailable, default_local_dir, offline
from star1.eval.benchmarks.base import Benchmark, EvalItem, LocalDir
from star1.records import normalise_text

HUB_REPO = "allenai/WildChat"
SHARDS = "data/train-*.parquet"
CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "self-harm",
              "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
              "violence/graphic")
PER_CATEGORY = 100
COLUMNS = ["conversation_id", "conversation", "openai_moderation"]


def shard_paths(local_dir: LocalDir = None) -> list[Path]:
    root = Path(local_dir) if local_dir else default_local_dir()
    if root is not None and (root / "wildchat").is_dir():
        found = sorted((root / "wildchat").rglob("*.parquet"))
        if found:
            return found
    where = f"no parquet files under {root / 'wildchat'}" if root else "no --local-dir given"
    if offline():
        raise DatasetUnavailable(f"wildchat: {where} and downloads are off (offline mode); "
                                 f"remote: hf://datasets/{HUB_REPO}/{SHARDS}")
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(HUB_REPO, repo_type="dataset", allow_patterns=[SHARDS])
    except Exception as exc:  # noqa: BLE001 - every download failure becomes one clear message
        raise DatasetUnavailable(f"wildchat: {where} and the download of hf://datasets/{HUB_REPO} "
                                 f"failed (gated: accept its terms and set HF_TOKEN): {exc}") from exc
    found = sorted(Path(folder).rglob("*.parquet"))
    if not found:
        raise DatasetUnavailable(f"wildchat: the download of {HUB_REPO} holds no {SHARDS}")
    return found


def first_turn_candidates(rows) -> list[dict]:
    """English first user turns flagged by moderation, with their category flags and scores."""
    out = []
    for row in rows:
        turns, moderation = row.get("conversation") or [], row.get("openai_moderation") or []
        if not turns or not moderation:
            continue
        turn, verdict = turns[0], moderation[0]
        if turn.get("role") != "user" or turn.get("language") != "English":
            continue
        if not verdict.get("flagged") or not (turn.get("content") or "").strip():
            continue
        out.append({"id": str(row["conversation_id"]), "prompt": turn["content"],
                    "flags": verdict.get("categories") or {},
                    "scores": verdict.get("category_scores") or {}})
    return out


def select_top(candidates: list[dict], per_category: int = PER_CATEGORY) -> list[EvalItem]:
    taken: set[str] = set()
    items = []
    for category in CATEGORIES:
        ranked = sorted((c for c in candidates if c["flags"].get(category)),
                        key=lambda c: (-(c["scores"].get(category) or 0.0), c["id"]))
        count = 0
        for c in ranked:
            key = normalise_text(c["prompt"])
            if key in taken:
                continue
            taken.add(key)
            items.append(EvalItem(id=c["id"], prompt=c["prompt"], question=c["prompt"], category=category))
            count += 1
            if count == per_category:
                break
    return items


def load(local_dir: LocalDir = None) -> list[EvalItem]:
    import pyarrow.parquet as pq

    candidates = []
    for path in shard_paths(local_dir):
        table = pq.read_table(path, columns=COLUMNS)
        for batch in table.to_batches(max_chunksize=4096):
            candidates.extend(first_turn_candidates(batch.to_pylist()))
    return select_top(candidates)


BENCHMARK = Benchmark(name="wildchat", title="WildChat", kind="safety", metric="safety_rate",
                      max_tokens=8000, load=load, source=f"hf://datasets/{HUB_REPO}/{SHARDS}",
                      judge="safety")
