"""Throughput of the HumanEval sandbox: all 164 canonical solutions, by number of parallel workers.

    STAR1_DATA_DIR=../shared/data python benchmarks/eval_sandbox.py [--repeats 3] [--workers 1,2,4]
        [--isolation bwrap|unsafe-unshare|unsafe-rlimits-only]

Prints one row per worker count with the median, min and max wall time of a full pass, and the
per-program cost of the sandbox against a bare ``python -c pass``: one sandboxed program
(``run_python``) and one graded pair (``run_checked``: candidate and harness, two sandboxes, one
call). Every pass must grade all 164 solutions correct, else the script fails.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

from star1.eval.benchmarks import humaneval
from star1.eval.graders.code import grade_programs
from star1.eval.graders.sandbox import SandboxLimits, isolation_mode, run_checked, run_python


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def child_cpu() -> float:
    """CPU seconds (user + system) of all finished child processes so far, bwrap's included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--local-dir", default=os.environ.get("STAR1_DATA_DIR"))
    parser.add_argument("--isolation", default="bwrap")
    args = parser.parse_args()
    problems = [item.data for item in humaneval.load(args.local_dir)]
    limits = SandboxLimits(timeout_s=20, isolation=args.isolation)

    def full_pass(workers: int) -> None:
        grades = grade_programs(problems, [p["canonical_solution"] for p in problems], limits, workers)
        if not all(g.correct for g in grades):
            raise SystemExit("a canonical solution failed; the sandbox is broken")

    print(f"machine: {os.cpu_count()} cores; {len(problems)} programs per pass; "
          f"isolation: {isolation_mode(args.isolation)}")
    # CPU time per program is the measure that a loaded, shared machine disturbs least.
    print("| workers | median s | min s | max s | programs/s (median) | CPU ms/program |")
    print("|---|---|---|---|---|---|")
    for workers in (int(w) for w in args.workers.split(",")):
        cpu_before = child_cpu()
        times = [timed(lambda: full_pass(workers)) for _ in range(args.repeats)]
        cpu = 1000 * (child_cpu() - cpu_before) / (args.repeats * len(problems))
        median = statistics.median(times)
        print(f"| {workers} | {median:.2f} | {min(times):.2f} | {max(times):.2f} | "
              f"{len(problems) / median:.1f} | {cpu:.0f} |")
    bare = [timed(lambda: subprocess.run([sys.executable, "-I", "-c", "pass"], check=True))
            for _ in range(10)]
    boxed = [timed(lambda: run_python("pass", limits)) for _ in range(10)]
    pair = [timed(lambda: run_checked("def f():\n    return 1\n", "def check(c):\n    assert c() == 1\n", "f", limits))
            for _ in range(10)]
    print(f"\none program, median of 10: bare interpreter {1000 * statistics.median(bare):.0f} ms, "
          f"sandboxed {1000 * statistics.median(boxed):.0f} ms, "
          f"graded pair {1000 * statistics.median(pair):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
