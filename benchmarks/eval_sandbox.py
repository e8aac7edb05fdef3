"""Throughput of the HumanEval sandbox: all 164 canonical solutions, by number of parallel workers.

    STAR1_DATA_DIR=../shared/data python benchmarks/eval_sandbox.py [--repeats 3] [--workers 1,2,4]

Prints one row per worker count with the median, min and max wall time of a full pass, and the
per-program start-up cost of the sandbox against a bare ``python -c pass``. Every pass must grade
all 164 solutions correct, else the script fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from star1.eval.benchmarks import humaneval
from star1.eval.graders.code import grade_programs
from star1.eval.graders.sandbox import SandboxLimits, run_python


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--local-dir", default=os.environ.get("STAR1_DATA_DIR"))
    args = parser.parse_args()
    problems = [item.data for item in humaneval.load(args.local_dir)]
    limits = SandboxLimits(timeout_s=20)

    def full_pass(workers: int) -> None:
        grades = grade_programs(problems, [p["canonical_solution"] for p in problems], limits, workers)
        if not all(g.correct for g in grades):
            raise SystemExit("a canonical solution failed; the sandbox is broken")

    print(f"machine: {os.cpu_count()} cores; {len(problems)} programs per pass; "
          f"isolation: {run_python('pass', limits).isolation}")
    print("| workers | median s | min s | max s | programs/s (median) |")
    print("|---|---|---|---|---|")
    for workers in (int(w) for w in args.workers.split(",")):
        times = [timed(lambda: full_pass(workers)) for _ in range(args.repeats)]
        median = statistics.median(times)
        print(f"| {workers} | {median:.2f} | {min(times):.2f} | {max(times):.2f} | {len(problems) / median:.1f} |")
    bare = [timed(lambda: subprocess.run([sys.executable, "-I", "-c", "pass"], check=True))
            for _ in range(10)]
    boxed = [timed(lambda: run_python("pass", limits)) for _ in range(10)]
    print(f"\none program, median of 10: bare interpreter {1000 * statistics.median(bare):.0f} ms, "
          f"sandboxed {1000 * statistics.median(boxed):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
