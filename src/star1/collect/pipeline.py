"""``star1 collect`` as plain functions: load the sources, run the five filters, build the records.

Steps, in the paper's order (thresholds and n configurable):
  1. self_ngram          per source: drop prompts sharing a word n-gram with an earlier prompt of it
  2. decontam_ngram      drop prompts sharing an 8-gram with a decontamination prompt
  3. tfidf_cross         drop prompts with TF-IDF cosine >= 0.6 to a decontamination prompt or to a
                         prompt accepted from an earlier source (fitted on those texts + this source's)
  4a. pool_tfidf         over the pool, greedily: drop TF-IDF cosine >= 0.6 to a kept prompt
  4b. pool_embedding     the same with all-MiniLM-L6-v2 embeddings at >= 0.7
  5. decontam_embedding  drop embedding cosine >= 0.7 to a decontamination prompt
Sources are processed in the paper's order, user files after them. The decontamination sets
default to the paper's five; one that cannot be loaded stops the run before any work.

``protocol="paper"`` runs the reference's collection as it was: step 2 also matches prompts
accepted from earlier sources, step 1 keeps the id the reference's ``set.pop()`` kept, and after
every filter the survivors go on in the reference's order (``survivors_in_reference_order``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from star1.collect import dense, tfidf
from star1.collect.config import CollectConfig
from star1.collect.embed import Embedder
from star1.collect.loading import (
    DecontaminationSet,
    LoadedSource,
    is_decontamination_key,
    load_decontamination,
    load_source,
    load_user_file,
)
from star1.collect.ngrams import (
    Match,
    NgramIndex,
    self_ngram_dedup,
    self_ngram_dedup_as_reference,
    survivors_in_reference_order,
)
from star1.collect.sources import SOURCE_KEYS, SOURCES, LoadOptions
from star1.console import Progress
from star1.datasets.fetch import DatasetUnavailable
from star1.datasets.safety import DECONTAMINATION_SETS
from star1.errors import ConfigError, RunFailed
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


def _validate(config: CollectConfig) -> tuple[list[str], list[str]]:
    source_keys = resolve_source_keys(config.sources)
    decon_keys = check_decontamination_keys(config.decontaminate)
    unknown = set(config.ngram_overrides) - set(SOURCE_KEYS) - {u.source_name for u in config.user_sources}
    if unknown:
        raise ConfigError(f"ngram_overrides names unknown sources: {', '.join(sorted(unknown))}")
    if not source_keys and not config.user_sources:
        raise ConfigError("nothing to collect: give --sources, or your own files with --in")
    taken = {s.name for s in SOURCES if s.key in source_keys}
    for u in config.user_sources:
        name = u.source_name or Path(u.path).stem
        if name in taken:
            raise ConfigError(f"source name {name!r} of {u.path} is already used; pick another with --source-name")
        taken.add(name)
    return source_keys, decon_keys


class DecontaminationUnavailable(DatasetUnavailable):
    """A decontamination set could not be loaded: collecting without it would leak benchmark
    prompts into the training pool."""


def _require(decon: list[DecontaminationSet]) -> None:
    missing = [d for d in decon if d.status != "loaded"]
    if missing:
        details = "; ".join(f"{d.key} ({d.detail})" for d in missing)
        raise DecontaminationUnavailable(
            f"decontamination set unavailable: {details}. Give --local-dir with the benchmark snapshots, "
            "choose the sets with --decontaminate, or pass --no-decontaminate to keep benchmark prompts "
            "in the pool")


def _require_some(sources: list[LoadedSource]) -> None:
    """Every selected source unavailable is a failed run (exit 1, nothing written), not an empty
    result: it is what a wrong --local-dir looks like. Sources that were read and gave no prompt,
    or whose prompts were all filtered out, are a result and end normally."""
    if any(s.status != "unavailable" for s in sources):
        return
    details = "; ".join(f"{s.name} ({s.missing[0].describe()}"
                        f"{f', and {len(s.missing) - 1} more' if len(s.missing) > 1 else ''})" for s in sources)
    raise RunFailed(f"no selected source could be read: {details}. Give --local-dir with the source "
                    "snapshots (a folder holding the paths above), or run where the hub is reachable")


class _Run:
    """The state one collect run carries from step to step."""

    def __init__(self, config: CollectConfig, progress: Progress):
        self.config, self.progress = config, progress
        self.paper = config.protocol == "paper"
        self.timings: dict[str, float] = {}
        self.examples = _Examples(config.examples)

    def left(self, n: int, dropped) -> list[int]:
        """Indices 0..n-1 a filter kept, in the order the next step sees them."""
        if self.paper:
            return survivors_in_reference_order(n, dropped)
        return [i for i in range(n) if i not in dropped]

    def load(self, source_keys: list[str], decon_keys: list[str]) -> None:
        config, t0 = self.config, time.perf_counter()
        user = [load_user_file(u.path, u.column, u.source_name, u.category_column, u.ngram)
                for u in config.user_sources]
        options = LoadOptions(wildjailbreak_include_benign=config.wildjailbreak_include_benign,
                              reference_order=self.paper)
        specs = [s for s in SOURCES if s.key in source_keys]
        self.sources: list[LoadedSource] = []
        self.decon: list[DecontaminationSet] = []
        with self.progress.task("loading sources", total=len(specs) + len(decon_keys)) as advance:
            # The benchmarks first: a missing one ends the run before the sources are read.
            for key in decon_keys:
                self.decon.append(load_decontamination(key, config.local_dir))
                advance(1)
            _require(self.decon)
            for spec in specs:
                self.sources.append(load_source(spec, config.local_dir, options))
                advance(1)
        self.sources += user
        _require_some(self.sources)
        for src in self.sources:
            src.ngram = config.ngram_overrides.get(src.key, src.ngram)
        self.decon_texts = [t for d in self.decon for t in d.prompts]
        self.decon_names = [d.key for d in self.decon for _ in d.prompts]
        self.counts = {s.name: {"loaded": len(s.prompts)} for s in self.sources}
        self.timings["load"] = time.perf_counter() - t0

    def self_dedup(self) -> list[list[int]]:
        """Step 1: per source, indices of the prompts left."""
        t0, survivors = time.perf_counter(), []
        for src in self.sources:
            texts = [p.text for p in src.prompts]
            names = [src.name] * len(texts)
            dedup = self_ngram_dedup_as_reference if self.paper else self_ngram_dedup
            dropped = dedup(texts, src.ngram)
            self.examples.note("self_ngram", len(dropped), partial(
                _removals, "self_ngram", dropped, texts, names, texts, names))
            survivors.append(self.left(len(texts), dropped))
            self.counts[src.name]["self_ngram"] = len(survivors[-1])
        self.timings["self_ngram"] = time.perf_counter() - t0
        return survivors

    def tokenize(self, survivors: list[list[int]]) -> list[list[int]]:
        """One tokenisation of every text still in play; returns each source's corpus rows."""
        t0 = time.perf_counter()
        self.corpus_texts = list(self.decon_texts)
        rows = []
        for src, keep in zip(self.sources, survivors):
            rows.append(list(range(len(self.corpus_texts), len(self.corpus_texts) + len(keep))))
            self.corpus_texts.extend(src.prompts[i].text for i in keep)
        self.corpus = tfidf.TfidfCorpus(self.corpus_texts)
        self.timings["tokenize"] = time.perf_counter() - t0
        return rows

    def decontaminate_sources(self, survivors: list[list[int]], corpus_rows: list[list[int]]) -> None:
        """Steps 2 and 3, source by source; fills the pool with the accepted prompts."""
        config = self.config
        ngram_index = NgramIndex(config.decontam_ngram)
        ngram_index.add(self.decon_texts)
        ngram_refs, ngram_names = list(self.decon_texts), list(self.decon_names)
        self.pool_rows: list[int] = []  # corpus rows accepted so far, in order
        self.pool: list[tuple[int, int]] = []  # (source index, prompt index)
        accepted_names: list[str] = []
        self.timings["decontam_ngram"] = self.timings["tfidf_cross"] = 0.0
        with self.progress.task("n-gram and TF-IDF decontamination", total=len(self.sources)) as advance:
            for s_idx, (src, keep) in enumerate(zip(self.sources, survivors)):
                t0 = time.perf_counter()
                texts = [src.prompts[i].text for i in keep]
                names = [src.name] * len(texts)
                dropped = ngram_index.filter(texts)
                self.examples.note("decontam_ngram", len(dropped), partial(
                    _removals, "decontam_ngram", dropped, texts, names, ngram_refs, ngram_names))
                keep2 = self.left(len(keep), dropped)
                self.counts[src.name]["decontam_ngram"] = len(keep2)
                t1 = time.perf_counter()
                # TF-IDF fitted on exactly the texts compared: decontamination sets, prompts
                # accepted from earlier sources, and this source's remaining prompts.
                refs = np.asarray(list(range(len(self.decon_texts))) + self.pool_rows, dtype=np.int64)
                queries = np.asarray([corpus_rows[s_idx][k] for k in keep2], dtype=np.int64)
                matrix = self.corpus.tfidf(np.concatenate([refs, queries]))
                dropped = tfidf.cross_filter(matrix[len(refs):], matrix[:len(refs)], config.tfidf_threshold)
                ref_texts = [self.corpus_texts[r] for r in refs]
                q_texts = [texts[k] for k in keep2]
                ref_names = self.decon_names + accepted_names
                self.examples.note("tfidf_cross", len(dropped), partial(
                    _removals, "tfidf_cross", dropped, q_texts, names, ref_texts, ref_names))
                keep3 = [keep2[i] for i in self.left(len(keep2), dropped)]
                self.counts[src.name]["tfidf_cross"] = len(keep3)
                self.pool_rows.extend(corpus_rows[s_idx][k] for k in keep3)
                self.pool.extend((s_idx, keep[k]) for k in keep3)
                accepted_names.extend([src.name] * len(keep3))
                if config.ngram_against_earlier_sources:
                    accepted = [texts[k] for k in keep3]
                    ngram_index.add(accepted)
                    ngram_refs += accepted
                    ngram_names += [src.name] * len(accepted)
                self.timings["decontam_ngram"] += t1 - t0
                self.timings["tfidf_cross"] += time.perf_counter() - t1
                advance(1)
        self.pool_texts = [self.sources[s].prompts[i].text for s, i in self.pool]
        self.pool_names = [self.sources[s].name for s, _ in self.pool]

    def _count(self, step: str, alive: list[int]) -> None:
        per = {s.name: 0 for s in self.sources}
        for p in alive:
            per[self.pool_names[p]] += 1
        for name, n in per.items():
            self.counts[name][step] = n

    def pool_tfidf(self) -> list[int]:
        """Step 4a: greedy TF-IDF over the pool (fitted on the pooled texts). Returns pool indices left."""
        t0 = time.perf_counter()
        with self.progress.task("TF-IDF de-duplication of the pool", total=len(self.pool)) as advance:
            matrix = self.corpus.tfidf(np.asarray(self.pool_rows, dtype=np.int64))
            dropped = tfidf.greedy_filter(matrix, self.config.pool_tfidf_threshold, progress=advance)
        self.examples.note("pool_tfidf", len(dropped), lambda room: _removals(
            "pool_tfidf", dropped, self.pool_texts, self.pool_names, self.pool_texts, self.pool_names, room))
        alive = self.left(len(self.pool), dropped)
        self._count("pool_tfidf", alive)
        self.timings["pool_tfidf"] = time.perf_counter() - t0
        return alive

    def embedding_steps(self, alive: list[int], embedder: Embedder) -> list[int]:
        """Steps 4b and 5. Returns pool indices left."""
        config, t0 = self.config, time.perf_counter()
        texts = [self.pool_texts[p] for p in alive]
        names = [self.pool_names[p] for p in alive]
        with self.progress.task("embedding prompts", total=len(set(texts)) + len(set(self.decon_texts))) as advance:
            vectors = embedder.embed(texts, progress=advance)
            decon_vectors = embedder.embed(self.decon_texts, progress=advance)
        self.timings["embed"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        with self.progress.task("embedding de-duplication of the pool", total=len(alive)) as advance:
            dropped = dense.greedy_filter(vectors, config.pool_embedding_threshold,
                                          method=config.embedding_search, progress=advance)
        self.examples.note("pool_embedding", len(dropped), lambda room: _removals(
            "pool_embedding", dropped, texts, names, texts, names, room))
        keep = self.left(len(alive), dropped)
        self._count("pool_embedding", [alive[i] for i in keep])
        self.timings["pool_embedding"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        kept_texts, kept_names = [texts[i] for i in keep], [names[i] for i in keep]
        dropped = dense.cross_filter(vectors[keep], decon_vectors, config.decontam_embedding_threshold)
        self.examples.note("decontam_embedding", len(dropped), lambda room: _removals(
            "decontam_embedding", dropped, kept_texts, kept_names, self.decon_texts, self.decon_names, room))
        alive = [alive[keep[k]] for k in self.left(len(keep), dropped)]
        self._count("decontam_embedding", alive)
        self.timings["decontam_embedding"] = time.perf_counter() - t0
        return alive

    def records(self, alive: list[int]) -> list[Record]:
        records, seen = [], set()
        self.examples.removed["exact_duplicate"] = 0
        for p in alive:
            s_idx, i = self.pool[p]
            prompt = self.sources[s_idx].prompts[i]
            key = normalise_text(prompt.text)
            if key in seen:  # ids must be unique; only texts without any TF-IDF term can get here
                self.examples.removed["exact_duplicate"] += 1
                continue
            seen.add(key)
            records.append(Record(id=prompt_id(prompt.text), question=prompt.text, source=self.sources[s_idx].name,
                                  source_category=prompt.category))
        final = {s.name: 0 for s in self.sources}
        for r in records:
            final[r.source] += 1
        for name, n in final.items():
            self.counts[name]["final"] = n
        return records


def collect(config: CollectConfig, progress: Progress | None = None) -> CollectResult:
    """Run the five filters over the configured sources (see the module docstring)."""
    source_keys, decon_keys = _validate(config)
    run = _Run(config, progress or Progress(enabled=False))
    run.load(source_keys, decon_keys)
    survivors = run.self_dedup()
    run.decontaminate_sources(survivors, run.tokenize(survivors))
    alive = run.pool_tfidf()
    embedder = None
    if not config.skip_embedding:
        embedder = Embedder(config.embedding_model, config.embedding_batch_size, threads=config.threads)
        alive = run.embedding_steps(alive, embedder)
    records = run.records(alive)
    return CollectResult(records, run.sources, run.decon, run.counts, run.examples.removed, run.examples.by_step,
                         run.timings, dict(embedder.stats) if embedder else {})
