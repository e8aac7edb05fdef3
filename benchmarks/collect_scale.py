"""Scale runs of the whole ``star1 collect`` pipeline at 100 K and 500 K raw prompts.

The pool is built from the real snapshots plus realistic variants (see collect_pool.py) and split
into 18 synthetic sources sized like the paper's; decontamination uses StrongREJECT, JBB,
SG-Bench and XSTest from ``--local-dir``. Each run is a fresh worker process:

  cold   embedding cache empty: gives the embedding throughput (sentences/s)
  warm   same cache, ``--repeats`` times: medians of everything else, and the time the cache saves

Also ("stress"), the two TF-IDF searches on the whole raw pool, as if no earlier filter had
removed anything: step 4a's greedy rule over all N prompts, and step 3 (all N vs the sets).

    python benchmarks/collect_scale.py --local-dir ../shared/data --sizes 100000,500000 \\
        --out benchmarks/results/collect_scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from collect_compare import DECON, peak_rss_mb, run_worker  # noqa: E402


def _pool_dir(work: Path, local_dir: str, n: int) -> Path:
    from collect_pool import base_prompts, build_pool, write_sources

    folder = work / f"pool-{n}"
    if not (folder / "sources.json").exists():
        sources = write_sources(build_pool(base_prompts(local_dir), n, seed=0), folder)
        (folder / "sources.json").write_text(json.dumps(sources))
    return folder


def run_pipeline(args) -> dict:
    from star1.collect.config import CollectConfig
    from star1.collect.pipeline import collect
    from star1.collect.report import build_report
    from star1.io import write_json_atomic
    from star1.records import write_records

    folder = Path(args.work) / f"pool-{args.n}"
    config = CollectConfig(sources=[], user_sources=json.loads((folder / "sources.json").read_text()),
                           local_dir=args.local_dir, decontaminate=list(DECON))
    start = time.perf_counter()
    result = collect(config)
    out = folder / "out" / "prompts.jsonl"
    write_records(out, result.records)
    write_json_atomic(out.with_name("prompts.report.json"), build_report(result, config))
    wall = time.perf_counter() - start
    totals = {}
    for counts in result.counts.values():
        for step, v in counts.items():
            totals[step] = totals.get(step, 0) + v
    return {"wall_s": wall, "timings_s": result.timings, "peak_rss_mb": peak_rss_mb(), "counts": totals,
            "embedding": result.embedding_stats}


def run_stress(args) -> dict:
    import numpy as np

    from collect_pool import base_prompts, build_pool

    from star1.collect import tfidf
    from star1.collect.loading import load_decontamination

    pool = build_pool(base_prompts(args.local_dir), args.n, seed=0)
    decon = [t for k in DECON for t in load_decontamination(k, args.local_dir).prompts]
    out = {}
    start = time.perf_counter()
    corpus = tfidf.TfidfCorpus(decon + pool)
    out["tokenize_s"] = time.perf_counter() - start
    start = time.perf_counter()
    matrix = corpus.tfidf(np.arange(len(decon) + len(pool)))
    dropped = tfidf.cross_filter(matrix[len(decon):], matrix[:len(decon)], 0.6)
    out["cross_s"], out["cross_dropped"] = time.perf_counter() - start, len(dropped)
    start = time.perf_counter()
    matrix = corpus.tfidf(np.arange(len(decon), len(decon) + len(pool)))
    dropped = tfidf.greedy_filter(matrix, 0.6)
    out["greedy_s"], out["greedy_dropped"] = time.perf_counter() - start, len(dropped)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _spawn(mode: str, n: int, args, cache: Path) -> dict:
    return run_worker(__file__, [mode, "--n", str(n), "--local-dir", args.local_dir, "--work", args.work],
                      STAR1_CACHE_DIR=str(cache))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--local-dir", required=True)
    p.add_argument("--sizes", default="100000,500000")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--work", default="/tmp/star1-collect-scale")
    p.add_argument("--no-stress", action="store_true")
    p.add_argument("--out", default=str(HERE / "results" / "collect_scale.json"))
    p.add_argument("--worker", choices=("pipeline", "stress"), help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        result = run_pipeline(args) if args.worker == "pipeline" else run_stress(args)
        print(json.dumps(result))
        return

    results = {"machine": {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()}, "runs": []}
    for n in (int(s) for s in args.sizes.split(",")):
        _pool_dir(Path(args.work), args.local_dir, n)
        cache = Path(args.work) / f"cache-{n}"
        shutil.rmtree(cache, ignore_errors=True)
        cold = _spawn("pipeline", n, args, cache)
        warm = [_spawn("pipeline", n, args, cache) for _ in range(args.repeats)]
        row = {"n": n, "cold": cold, "warm": warm}
        ok = [w for w in warm if "error" not in w]
        if "error" not in cold and ok:
            embed_cold = cold["timings_s"]["embed"]
            embed_warm = statistics.median(w["timings_s"]["embed"] for w in ok)
            row["summary"] = {
                "all_but_embedding_s_median": statistics.median(w["wall_s"] - w["timings_s"]["embed"] for w in ok),
                "total_warm_s_median": statistics.median(w["wall_s"] for w in ok),
                "total_cold_s": cold["wall_s"],
                "peak_rss_mb_max": max([cold["peak_rss_mb"]] + [w["peak_rss_mb"] for w in ok]),
                "embedded_sentences": cold["embedding"]["computed"],
                "embedding_sentences_per_s": cold["embedding"]["computed"] / cold["embedding"]["compute_s"],
                "embed_cold_s": embed_cold, "embed_warm_s_median": embed_warm,
                "cache_saves_s": embed_cold - embed_warm,
                "counts": cold["counts"],
                "step_medians_s": {k: statistics.median(w["timings_s"][k] for w in ok) for k in ok[0]["timings_s"]},
            }
        if not args.no_stress:
            row["stress"] = _spawn("stress", n, args, cache)
        results["runs"].append(row)
        print(json.dumps(row.get("summary", row), default=str), flush=True)
        if "stress" in row:
            print(json.dumps(row["stress"]), flush=True)
    results["machine"]["load_avg_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
