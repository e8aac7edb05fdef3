"""Side by side: the dense-matrix reference (the paper's way) vs star1's collect filters.

For each pool size and each filter step, both methods run on the same prompts in fresh worker
processes (so peak RSS is each method's own), ``--repeats`` times; the table gives the median
wall time, the peak RSS of the worker process, and how many keep/drop decisions agree.

    python benchmarks/collect_compare.py --local-dir ../shared/data --sizes 5000,20000 \\
        --out benchmarks/results/collect_compare.json

Embeddings are computed once per pool (and cached) before the workers run; their throughput is
reported separately. Steps: self_ngram (5-grams, within the pool), decontam_ngram (8-grams vs
StrongREJECT + JBB + SG-Bench + XSTest), tfidf_cross (pool vs those sets, >= 0.6), pool_tfidf
(greedy, >= 0.6), pool_embedding (greedy, >= 0.7), decontam_embedding (>= 0.7).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

STEPS = ("self_ngram", "decontam_ngram", "tfidf_cross", "pool_tfidf", "pool_embedding", "decontam_embedding")
DECON = ("strongreject", "jbb", "sgbench", "xstest")


def _inputs(local_dir: str, n: int, cache: Path):
    from collect_pool import base_prompts, build_pool

    from star1.collect.embed import Embedder
    from star1.collect.loading import load_decontamination

    pool = build_pool(base_prompts(local_dir), n, seed=0)
    decon = [t for k in DECON for t in load_decontamination(k, local_dir).prompts]
    return pool, decon, Embedder(cache_root=cache)


def _run_step(step: str, method: str, pool, decon, embedder) -> set[int]:
    import numpy as np

    from star1.collect import dense, reference, tfidf
    from star1.collect.ngrams import NgramIndex, self_ngram_dedup

    if step == "self_ngram":
        return reference.self_ngram_lookup(pool, 5) if method == "dense" else set(self_ngram_dedup(pool, 5))
    if step == "decontam_ngram":
        if method == "dense":
            return reference.decontam_ngram_pairwise(pool, decon, 8)
        index = NgramIndex(8)
        index.add(decon)
        return set(index.filter(pool))
    if step == "tfidf_cross":
        if method == "dense":
            return reference.tfidf_cross_dense(pool, decon, 0.6)
        matrix = tfidf.TfidfCorpus(decon + pool).tfidf(np.arange(len(decon) + len(pool)))
        return set(tfidf.cross_filter(matrix[len(decon):], matrix[:len(decon)], 0.6))
    if step == "pool_tfidf":
        if method == "dense":
            return reference.tfidf_greedy_dense(pool, 0.6)
        return set(tfidf.greedy_filter(tfidf.TfidfCorpus(pool).tfidf(np.arange(len(pool))), 0.6))
    vectors = embedder.embed(pool)
    if step == "pool_embedding":
        if method == "dense":  # the paper: float32 cosine matrix of all pairs, then the greedy loop
            return reference.greedy_dense(vectors @ vectors.T, 0.7)
        return set(dense.greedy_filter(vectors, 0.7, method="usearch" if method == "usearch" else "exact"))
    refs = embedder.embed(decon)
    if method == "dense":
        return set(np.flatnonzero(((refs @ vectors.T) >= 0.7).any(axis=0)).tolist())
    return set(dense.cross_filter(vectors, refs, 0.7))


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; unlike ru_maxrss it is not inherited over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args) -> None:
    import star1.collect.dense, star1.collect.reference, star1.collect.tfidf  # noqa: F401,E401 - not timed

    pool, decon, embedder = _inputs(args.local_dir, args.n, Path(args.cache))
    if args.step.endswith("embedding"):  # load (cached) vectors before the clock starts
        embedder.embed(pool), embedder.embed(decon)
    baseline = peak_rss_mb()
    start = time.perf_counter()
    dropped = _run_step(args.step, args.method, pool, decon, embedder)
    wall = time.perf_counter() - start
    peak = peak_rss_mb()
    print(json.dumps({"wall_s": wall, "peak_rss_mb": peak, "baseline_rss_mb": baseline,
                      "dropped": sorted(dropped)}))


def run_worker(script: str, worker_args: list[str], **env) -> dict:
    """Run ``script --worker ...`` in a fresh process; its last stdout line is a JSON result."""
    proc = subprocess.run([sys.executable, script, "--worker", *worker_args], capture_output=True, text=True,
                          env={**os.environ, "STAR1_OFFLINE": "1", **env})
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["killed"])[-1], "returncode": proc.returncode}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _spawn(step, method, n, args) -> dict:
    return run_worker(__file__, ["--step", step, "--method", method, "--n", str(n),
                                 "--local-dir", args.local_dir, "--cache", args.cache])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--local-dir", required=True)
    p.add_argument("--sizes", default="5000,20000")
    p.add_argument("--steps", default=",".join(STEPS))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dense-repeats", type=int, help="repeats of the dense reference (default: --repeats)")
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "star1" / "bench-embeddings"))
    p.add_argument("--out", default=str(HERE / "results" / "collect_compare.json"))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--step", help=argparse.SUPPRESS)
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    results = {"machine": {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()}, "runs": []}
    for n in (int(s) for s in args.sizes.split(",")):
        pool, decon, embedder = _inputs(args.local_dir, n, Path(args.cache))
        start = time.perf_counter()
        embedder.embed(pool + decon)
        results["runs"].append({"n": n, "step": "embedding (compute or cache)", "wall_s": time.perf_counter() - start,
                                "embedding": dict(embedder.stats)})
        print(json.dumps(results["runs"][-1]), flush=True)
        for step in args.steps.split(","):
            methods = ["dense", "star1"] + (["usearch"] if step == "pool_embedding" else [])
            outcome = {}
            for method in methods:
                reps = (args.dense_repeats or args.repeats) if method == "dense" else args.repeats
                runs = [_spawn(step, method, n, args) for _ in range(reps)]
                ok = [r for r in runs if "error" not in r]
                outcome[method] = {
                    "wall_s_median": statistics.median(r["wall_s"] for r in ok) if ok else None,
                    "wall_s_all": [round(r["wall_s"], 2) for r in ok],
                    "peak_rss_mb": max(r["peak_rss_mb"] for r in ok) if ok else None,
                    "baseline_rss_mb": max(r["baseline_rss_mb"] for r in ok) if ok else None,
                    "dropped": set(ok[0]["dropped"]) if ok else None,
                    "errors": [r for r in runs if "error" in r],
                }
            row = {"n": n, "step": step}
            for method, o in outcome.items():
                row[method] = {k: v for k, v in o.items() if k != "dropped"}
                if o["dropped"] is not None:
                    row[method]["dropped"] = len(o["dropped"])
                if method != "dense" and o["dropped"] is not None and outcome["dense"]["dropped"] is not None:
                    differ = len(o["dropped"] ^ outcome["dense"]["dropped"])
                    row[method]["decisions_differing"] = differ
                    row[method]["agreement"] = 1 - differ / n
            results["runs"].append(row)
            print(json.dumps(row), flush=True)
    results["machine"]["load_avg_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
