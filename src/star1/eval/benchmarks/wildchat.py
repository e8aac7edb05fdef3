"""WildChat (Zhao et al., 2024, "WildChat: 1M ChatGPT Interaction Logs in the Wild"), toxic subset.

Two constructions, both 11 moderation categories x up to 100 prompts, each reply judged safe /
unsafe (score: share judged safe):

**The project's** (protocols ``star1`` and ``r1``), from allenai/WildChat (parquet shards
``data/train-*.parquet``; gated on the hub): the first user turn of English conversations that
OpenAI moderation flagged *for that turn*, then for each category the 100 turns with the highest
score in it, among turns flagged for it, taking each prompt once (categories in the order
below). It ranks the user's own turn, which is what a prompt benchmark is about. Snapshot
folder: ``wildchat/`` (any ``*.parquet`` below it).

**The STAR-1 reference's** (protocol ``paper``; ``benchmark/safe_benchmark/utils.py:44-71``),
from ``yuntian-deng/WildChat-1M-Full-with-parameters-internal`` (WildChat-1M-Full's layout:
``conversation_hash``, ``conversation[].content``, ``turn``, ``language``, ``toxic``,
``openai_moderation[]``): rows with ``toxic == True``, ``turn == 1``, ``language == "English"``
and the *last* moderation entry flagged (for a one-turn conversation that entry is the
assistant's reply); each row's category is the arg-max of that last entry's
``category_scores`` (the first key, in the file's order, on a tie, as Python's ``max`` picks);
then per category in the order below, the 100 highest-scoring rows (a stable sort, so ties keep
the corpus order), concatenated; the question is the first turn's content. Nothing is
de-duplicated. As the reference, its cached ``WildChat/WildChat.csv`` (a ``question`` column) is
read first when the snapshot folder has it; otherwise parquet shards under
``wildchat_1m_full/``; otherwise the hub (the corpus is internal: expect the download to fail).

No WildChat snapshot exists here; offline, loading raises ``DatasetUnavailable``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from star1.bounded import MAX_FIELD_CHARS
from star1.datasets.fetch import DatasetUnavailable, default_local_dir, offline
from star1.eval.benchmarks.base import Benchmark, EvalItem, LocalDir
from star1.io import InputError
from star1.records import normalise_text

HUB_REPO = "allenai/WildChat"
SHARDS = "data/train-*.parquet"
CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "self-harm",
              "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
              "violence/graphic")
PER_CATEGORY = 100
COLUMNS = ["conversation_id", "conversation", "openai_moderation"]

REFERENCE_REPO = "yuntian-deng/WildChat-1M-Full-with-parameters-internal"
REFERENCE_SHARDS = "*.parquet"
REFERENCE_FOLDER = "wildchat_1m_full"
REFERENCE_CSV = "WildChat/WildChat.csv"  # the reference's own cache (utils.py:45), same relative path
REFERENCE_COLUMNS = ["conversation_hash", "conversation", "turn", "language", "toxic", "openai_moderation"]


def _shards(local_dir: LocalDir, folder: str, repo: str, pattern: str) -> list[Path]:
    root = Path(local_dir) if local_dir else default_local_dir()
    if root is not None and (root / folder).is_dir():
        found = sorted((root / folder).rglob("*.parquet"))
        if found:
            return found
    where = f"no parquet files under {root / folder}" if root else "no --local-dir given"
    if offline():
        raise DatasetUnavailable(f"wildchat: {where} and downloads are off (offline mode); "
                                 f"remote: hf://datasets/{repo}/{pattern}")
    try:
        from huggingface_hub import snapshot_download

        downloaded = snapshot_download(repo, repo_type="dataset", allow_patterns=[pattern])
    except Exception as exc:  # noqa: BLE001 - every download failure becomes one clear message
        raise DatasetUnavailable(f"wildchat: {where} and the download of hf://datasets/{repo} "
                                 f"failed (gated: accept its terms and set HF_TOKEN): {exc}") from exc
    found = sorted(Path(downloaded).rglob("*.parquet"))
    if not found:
        raise DatasetUnavailable(f"wildchat: the download of {repo} holds no {pattern}")
    return found


def shard_paths(local_dir: LocalDir = None) -> list[Path]:
    return _shards(local_dir, "wildchat", HUB_REPO, SHARDS)


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


# -- the reference's construction (utils.py:44-71) ------------------------------------------------

def reference_category(row: dict) -> tuple[str, float, str] | None:
    """(category, its score, question) of a corpus row the reference keeps, else None.

    utils.py:54-58. ``== True`` as there (1 counts too). Two rows the reference would crash on
    are skipped instead: no moderation entry at all, and a ``None`` score (``max`` cannot
    compare it; such a key is passed over)."""
    if row.get("toxic") != True or row.get("turn") != 1 or row.get("language") != "English":  # noqa: E712
        return None
    moderation = row.get("openai_moderation") or []
    if not moderation or moderation[-1].get("flagged") != True:  # noqa: E712
        return None
    scores = moderation[-1].get("category_scores") or {}
    if isinstance(scores, list):  # a parquet map column reads as (key, value) pairs, in order
        scores = dict(scores)
    best = None
    for key, score in scores.items():
        if score is not None and (best is None or score > best[1]):  # first maximum wins, as max()
            best = (key, score)
    turns = row.get("conversation") or []
    if best is None or not turns or not isinstance(turns[0].get("content"), str):
        return None
    return best[0], float(best[1]), turns[0]["content"]


def reference_select(rows, per_category: int = PER_CATEGORY) -> list[EvalItem]:
    """The reference's selection over corpus rows in corpus order (utils.py:58-66)."""
    kept = []
    for row in rows:
        found = reference_category(row)
        if found is not None:
            kept.append((str(row.get("conversation_hash")), *found))
    items, seen = [], {}
    for category in CATEGORIES:
        # A stable sort, as Dataset.sort: ties keep the corpus order.
        ranked = sorted((k for k in kept if k[1] == category), key=lambda k: -k[2])[:per_category]
        for conversation, _, _, question in ranked:
            items.append(EvalItem(id=_unique(conversation, seen), prompt=question, question=question,
                                  category=category))
    return items


def _unique(key: str, seen: dict[str, int]) -> str:
    """Ids must be unique; the reference does not de-duplicate, so a repeated conversation hash
    (identical conversations exist in the corpus) gets ``#2``, ``#3``, ..."""
    seen[key] = seen.get(key, 0) + 1
    return key if seen[key] == 1 else f"{key}#{seen[key]}"


def read_reference_csv(path: Path) -> list[EvalItem]:
    """The reference's cached selection: its ``question`` column in file order (utils.py:45-49);
    ids from ``conversation_hash`` and categories from ``category`` where the file has them."""
    # A WildChat turn can exceed the csv module's 128 KiB default; the bound is the one every
    # reader of user files keeps (the limit is process-wide, so it is set at each read).
    csv.field_size_limit(MAX_FIELD_CHARS)
    items, seen = [], {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if "question" not in (reader.fieldnames or []):
            raise InputError(path, "no 'question' column (the reference's WildChat.csv has one)",
                             line=1, field="question")
        for index, row in enumerate(reader):
            question = row["question"]
            if not question or not question.strip():
                raise InputError(path, "empty question", line=reader.line_num, field="question")
            key = row.get("conversation_hash") or str(index)
            items.append(EvalItem(id=_unique(key, seen), prompt=question, question=question,
                                  category=row.get("category") or None))
    return items


def load_reference(local_dir: LocalDir = None) -> list[EvalItem]:
    import pyarrow.parquet as pq

    root = Path(local_dir) if local_dir else default_local_dir()
    if root is not None and (root / REFERENCE_CSV).is_file():
        return read_reference_csv(root / REFERENCE_CSV)
    rows = []
    for path in _shards(local_dir, REFERENCE_FOLDER, REFERENCE_REPO, REFERENCE_SHARDS):
        shard = pq.ParquetFile(path)
        missing = [c for c in REFERENCE_COLUMNS if c not in shard.schema_arrow.names]
        if missing:
            raise InputError(path, f"missing columns {missing}; the reference's corpus has "
                                   f"{REFERENCE_COLUMNS}", field=missing[0])
        for batch in shard.iter_batches(batch_size=4096, columns=REFERENCE_COLUMNS):
            # Keep only what the selection needs: the corpus has about a million rows.
            rows.extend(r for r in batch.to_pylist() if reference_category(r) is not None)
    return reference_select(rows)


BENCHMARK = Benchmark(name="wildchat", title="WildChat", kind="safety", metric="safety_rate",
                      max_tokens=8000, load=load, source=f"hf://datasets/{HUB_REPO}/{SHARDS}",
                      judge="safety", reference_load=load_reference,
                      reference_source=f"hf://datasets/{REFERENCE_REPO} (the STAR-1 reference's "
                                       "construction)")
