"""``star1 collect`` as plain functions: load the sources, run the five filters, build the records.

Steps, in the paper's order (thresholds and n configurable):
  1. self_ngram          per source: drop prompts sharing a word n-gram with an earlier prompt of it
  2. decontam_ngram      drop prompts sharing an 8-gram with a decontamination prompt
  3. tfidf_cross         drop prompts with TF-IDF cosine >= 0.6 to a decontamination prompt or to a
                         prompt accepted from an earlier source (fitted on those texts + this source's)
  4a. pool_tfidf         over the pool, greedily: drop TF-IDF cosine >= 0.6 to a kept prompt
  4b. pool_embedding     the same with all-MiniLM-L6-v2 embeddings at >= 0.7
  5. decontam_embedding  drop embedding cosine >= 0.7 to a decontamination prompt
Sources are processed in the paper's order, user files after them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from star1.collect import dense, tfidf
from star1.collect.config import CollectConfig
from star1.collect.embed import Embedder
from star1.collect.loading import (DecontaminationSet, LoadedSource, is_decontamination_key,
                                   load_decontamination, load_source, load_user_file)
from star1.collect.ngrams import Match, NgramIndex, self_ngram_dedup
from star1.collect.progress import Progress
from star1.collect.sources import SOURCE_KEYS, SOURCES, LoadOptions
from star1.datasets.safety import DECONTAMINATION_SETS
from star1.errors import ConfigError
from star1.records import Record, normalise_text, prompt_id

STEPS = ("loaded", "self_ngram", "decontam_ngram", "tfidf_cross", "pool_tfidf", "pool_embedding",
         "decontam_embedding", "final")


@dataclass
class Removal:
    step: str
    question: str
    source: str
    matched: str | None = None
    matched_source: str | None = None
    ngram: str | None = None
    similarity: float | None = None

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items() if v is not None}


@dataclass
class CollectResult:
    records: list[Record]
    sources: list[LoadedSource]
    decontamination: list[DecontaminationSet]
    counts: dict[str, dict[str, int]]  # source name -> step -> prompts left after it
    removed: dict[str, int]
    examples: dict[str, list[Removal]]
    timings: dict[str, float]
    embedding_stats: dict = field(default_factory=dict)


def resolve_source_keys(items: list[str]) -> list[str]:
    wanted: set[str] = set()
    for item in (i.strip() for i in items):
        if item == "all":
            wanted.update(SOURCE_KEYS)
        elif item in SOURCE_KEYS:
            wanted.add(item)
        elif item:
            raise ConfigError(f"unknown source {item!r}; valid sources: all, {', '.join(SOURCE_KEYS)}")
    return [k for k in SOURCE_KEYS if k in wanted]


def check_decontamination_keys(items: list[str]) -> list[str]:
    keys = [i.strip() for i in items if i.strip()]
    for key in keys:
        if not is_decontamination_key(key):
            raise ConfigError(f"unknown decontamination set {key!r}; valid: {', '.join(DECONTAMINATION_SETS)}, "
                              "or a path to a .csv/.tsv/.json/.jsonl/.parquet file")
    return keys


class _Examples:
    def __init__(self, limit: int):
        self.limit = limit
        self.by_step: dict[str, list[Removal]] = {s: [] for s in STEPS[1:-1]}
        self.removed: dict[str, int] = {s: 0 for s in STEPS[1:-1]}

    def note(self, step: str, count: int, make) -> None:
        self.removed[step] += count
        room = self.limit - len(self.by_step[step])
        if room > 0:
            self.by_step[step].extend(make(room))


def _removals(step, dropped: dict[int, Match], texts, source_names, other_texts, other_names, room):
    out = []
    for j in sorted(dropped)[:room]:
        m = dropped[j]
        out.append(Removal(step, texts[j], source_names[j], other_texts[m.other], other_names[m.other],
                           m.ngram, m.similarity))
    return out


def collect(config: CollectConfig, progress: Progress | None = None) -> CollectResult:
    progress = progress or Progress(enabled=False)
    timings: dict[str, float] = {}
    source_keys = resolve_source_keys(config.sources)
    decon_keys = check_decontamination_keys(config.decontaminate)
    unknown = set(config.ngram_overrides) - set(SOURCE_KEYS) - {u.source_name for u in config.user_sources}
    if unknown:
        raise ConfigError(f"ngram_overrides names unknown sources: {', '.join(sorted(unknown))}")
    if not source_keys and not config.user_sources:
        raise ConfigError("nothing to collect: give --sources or --from")
    taken = {s.name for s in SOURCES if s.key in source_keys}
    for u in config.user_sources:
        name = u.source_name or Path(u.path).stem
        if name in taken:
            raise ConfigError(f"source name {name!r} of {u.path} is already used; pick another with --source-name")
        taken.add(name)

    t0 = time.perf_counter()
    user = [load_user_file(u.path, u.column, u.source_name, u.category_column, u.ngram) for u in config.user_sources]
    options = LoadOptions(wildjailbreak_include_benign=config.wildjailbreak_include_benign)
    specs = [s for s in SOURCES if s.key in source_keys]
    loaded: list[LoadedSource] = []
    with progress.task("loading sources", total=len(specs) + len(decon_keys)) as advance:
        for spec in specs:
            loaded.append(load_source(spec, config.local_dir, options))
            advance(1)
        decon = []
        for key in decon_keys:
            decon.append(load_decontamination(key, config.local_dir))
            advance(1)
    loaded += user
    for src in loaded:
        src.ngram = config.ngram_overrides.get(src.key, src.ngram)
    timings["load"] = time.perf_counter() - t0

    decon_texts = [t for d in decon for t in d.prompts]
    decon_names = [d.key for d in decon for _ in d.prompts]
    examples = _Examples(config.examples)
    counts = {s.name: {"loaded": len(s.prompts)} for s in loaded}

    # Steps 1-3, source by source.
    t0 = time.perf_counter()
    survivors: list[list[int]] = []
    for src in loaded:
        texts = [p.text for p in src.prompts]
        dropped = self_ngram_dedup(texts, src.ngram)
        examples.note("self_ngram", len(dropped), lambda room: _removals(
            "self_ngram", dropped, texts, [src.name] * len(texts), texts, [src.name] * len(texts), room))
        survivors.append([i for i in range(len(texts)) if i not in dropped])
        counts[src.name]["self_ngram"] = len(survivors[-1])
    timings["self_ngram"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    corpus_texts = list(decon_texts)
    corpus_row: list[list[int]] = []
    for src, keep in zip(loaded, survivors):
        corpus_row.append(list(range(len(corpus_texts), len(corpus_texts) + len(keep))))
        corpus_texts.extend(src.prompts[i].text for i in keep)
    corpus = tfidf.TfidfCorpus(corpus_texts)
    timings["tokenize"] = time.perf_counter() - t0

    ngram_index = NgramIndex(config.decontam_ngram)
    ngram_index.add(decon_texts)
    ngram_ref_texts, ngram_ref_names = list(decon_texts), list(decon_names)
    accepted_rows: list[int] = []  # corpus rows accepted from earlier sources
    accepted_names: list[str] = []
    pool: list[tuple[int, int]] = []  # (source index, prompt index)
    t_ngram = t_tfidf = 0.0
    with progress.task("n-gram and TF-IDF decontamination", total=len(loaded)) as advance:
        for s_idx, (src, keep) in enumerate(zip(loaded, survivors)):
            texts = [src.prompts[i].text for i in keep]
            names = [src.name] * len(texts)
            t1 = time.perf_counter()
            dropped = ngram_index.filter(texts)
            examples.note("decontam_ngram", len(dropped), lambda room: _removals(
                "decontam_ngram", dropped, texts, names, ngram_ref_texts, ngram_ref_names, room))
            keep2 = [k for k in range(len(keep)) if k not in dropped]
            counts[src.name]["decontam_ngram"] = len(keep2)
            t2 = time.perf_counter()
            refs = np.asarray(list(range(len(decon_texts))) + accepted_rows, dtype=np.int64)
            queries = np.asarray([corpus_row[s_idx][k] for k in keep2], dtype=np.int64)
            matrix = corpus.tfidf(np.concatenate([refs, queries]))
            dropped3 = tfidf.cross_filter(matrix[len(refs):], matrix[:len(refs)], config.tfidf_threshold)
            ref_texts = [corpus_texts[r] for r in refs]
            ref_names = decon_names + accepted_names
            q_texts = [texts[k] for k in keep2]
            examples.note("tfidf_cross", len(dropped3), lambda room: _removals(
                "tfidf_cross", dropped3, q_texts, names, ref_texts, ref_names, room))
            keep3 = [k for i, k in enumerate(keep2) if i not in dropped3]
            counts[src.name]["tfidf_cross"] = len(keep3)
            accepted_rows.extend(corpus_row[s_idx][k] for k in keep3)
            accepted_names.extend([src.name] * len(keep3))
            pool.extend((s_idx, keep[k]) for k in keep3)
            if config.ngram_against_earlier_sources:
                accepted_texts = [texts[k] for k in keep3]
                ngram_index.add(accepted_texts)
                ngram_ref_texts += accepted_texts
                ngram_ref_names += [src.name] * len(keep3)
            t_ngram += t2 - t1
            t_tfidf += time.perf_counter() - t2
            advance(1)
    timings["decontam_ngram"], timings["tfidf_cross"] = t_ngram, t_tfidf

    pool_texts = [loaded[s].prompts[i].text for s, i in pool]
    pool_names = [loaded[s].name for s, _ in pool]

    def survivors_after(step: str, alive: list[int]) -> None:
        per = {s.name: 0 for s in loaded}
        for p in alive:
            per[pool_names[p]] += 1
        for name, n in per.items():
            counts[name][step] = n

    # Step 4a: greedy TF-IDF over the pool (fitted on the pooled texts).
    t0 = time.perf_counter()
    with progress.task("TF-IDF de-duplication of the pool", total=len(pool)) as advance:
        matrix = corpus.tfidf(np.asarray(accepted_rows, dtype=np.int64))
        dropped = tfidf.greedy_filter(matrix, config.pool_tfidf_threshold, progress=advance)
    examples.note("pool_tfidf", len(dropped), lambda room: _removals(
        "pool_tfidf", dropped, pool_texts, pool_names, pool_texts, pool_names, room))
    alive = [p for p in range(len(pool)) if p not in dropped]
    survivors_after("pool_tfidf", alive)
    timings["pool_tfidf"] = time.perf_counter() - t0

    embedder = None
    if not config.skip_embedding:
        embedder = Embedder(config.embedding_model, config.embedding_batch_size, threads=config.threads)
        t0 = time.perf_counter()
        unique = len({pool_texts[p] for p in alive}) + len(set(decon_texts))
        with progress.task("embedding prompts", total=unique) as advance:
            vectors = embedder.embed([pool_texts[p] for p in alive], progress=advance)
            decon_vectors = embedder.embed(decon_texts, progress=advance)
        timings["embed"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        alive_texts = [pool_texts[p] for p in alive]
        alive_names = [pool_names[p] for p in alive]
        with progress.task("embedding de-duplication of the pool", total=len(alive)) as advance:
            dropped = dense.greedy_filter(vectors, config.pool_embedding_threshold,
                                          method=config.embedding_search, progress=advance)
        examples.note("pool_embedding", len(dropped), lambda room: _removals(
            "pool_embedding", dropped, alive_texts, alive_names, alive_texts, alive_names, room))
        keep = [i for i in range(len(alive)) if i not in dropped]
        timings["pool_embedding"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        kept_texts = [alive_texts[i] for i in keep]
        kept_names = [alive_names[i] for i in keep]
        dropped5 = dense.cross_filter(vectors[keep], decon_vectors, config.decontam_embedding_threshold)
        examples.note("decontam_embedding", len(dropped5), lambda room: _removals(
            "decontam_embedding", dropped5, kept_texts, kept_names, decon_texts, decon_names, room))
        alive_4b = [alive[i] for i in keep]
        survivors_after("pool_embedding", alive_4b)
        alive = [alive_4b[i] for i in range(len(alive_4b)) if i not in dropped5]
        survivors_after("decontam_embedding", alive)
        timings["decontam_embedding"] = time.perf_counter() - t0

    records, seen = [], set()
    examples.removed["exact_duplicate"] = 0
    for p in alive:
        s_idx, i = pool[p]
        prompt = loaded[s_idx].prompts[i]
        key = normalise_text(prompt.text)
        if key in seen:  # ids must be unique; only texts without any TF-IDF term can get here
            examples.removed["exact_duplicate"] += 1
            continue
        seen.add(key)
        records.append(Record(id=prompt_id(prompt.text), question=prompt.text, source=loaded[s_idx].name,
                              source_category=prompt.category))
    final = {s.name: 0 for s in loaded}
    for r in records:
        final[r.source] += 1
    for name, n in final.items():
        counts[name]["final"] = n
    return CollectResult(records, loaded, decon, counts, examples.removed, examples.by_step, timings,
                         dict(embedder.stats) if embedder else {})
