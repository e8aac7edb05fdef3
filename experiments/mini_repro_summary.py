"""Table, plot and reproducibility check for experiments/mini_repro.sh.

    python experiments/mini_repro_summary.py runs/mini_repro [--compare docs/mini_repro/results.json]

Reads the run folder the script wrote (eval/<judge>/<arm>/results.json, models/<arm>/,
data/, timings.tsv) and writes summary.md, results.json and mini_repro.png into it. With
--compare, every cell is checked against a committed results.json; the exit status is 1 when
any cell differs by more than --tolerance percentage points.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

ARMS = {"base": "base", "star1": "+STAR-1", "star1_benign": "+STAR-1+benign"}
BENCHMARKS = {"strongreject": "StrongREJECT", "jbb": "JBB-Behaviors", "xstest": "XSTest (safe)"}
JUDGES = {"keyword": "keyword refusal classifier", "bundled_judge": "bundled SmolLM2-135M as LLM judge"}
# The keyword classifier's number on the harmful sets is the refusal-keyword rate, a proxy: never
# call it (or a mean with it) safe.
Y_LABELS = {"keyword": "refusal-keyword rate, % (XSTest: % full compliance)",
            "bundled_judge": "% judged safe (XSTest: % full compliance)"}
MEAN_TITLES = {"keyword": "Mean of the three", "bundled_judge": "Safety avg"}


def collect(run: Path) -> dict:
    """{judge: {arm: {benchmark: {score, n, unjudged, truncated, labels}}}} for what the run has."""
    table: dict = {}
    for judge in JUDGES:
        for arm in ARMS:
            path = run / "eval" / judge / arm / "results.json"
            if not path.exists():
                continue
            benchmarks = json.loads(path.read_text(encoding="utf-8"))["benchmarks"]
            cells = table.setdefault(judge, {}).setdefault(arm, {})
            for name in BENCHMARKS:
                if name not in benchmarks:
                    continue
                b = benchmarks[name]
                cells[name] = {"score": b["score"], "n": b["n"], "unjudged": b["unjudged"],
                               "truncated": b.get("truncated"), "labels": b["views"]["whole"]["labels"],
                               "judge": b["judge"]["kind"], "max_tokens": b["protocol"].get("max_tokens")}
            scores = [c["score"] for c in cells.values() if c["score"] is not None]
            cells["safety_avg"] = {"score": sum(scores) / len(scores) if len(scores) == len(BENCHMARKS) else None}
    return table


def data_summary(run: Path) -> dict:
    out: dict = {}
    benign = run / "data" / "benign.jsonl"
    if benign.exists():
        out["benign_samples"] = sum(1 for line in benign.open(encoding="utf-8") if line.strip())
    failed = run / "data" / "benign.failed.jsonl"
    if failed.exists():
        steps = Counter(json.loads(line).get("stage", "?") for line in failed.open(encoding="utf-8") if line.strip())
        out["benign_failed_by_step"] = dict(steps)
    inputs = run / "data" / "benign_inputs.jsonl"
    if inputs.exists():
        out["benign_inputs"] = sum(1 for line in inputs.open(encoding="utf-8") if line.strip())
    for arm in ("star1", "star1_benign"):
        report = run / "models" / arm / "train_report.json"
        if report.exists():
            out[f"train_{arm}"] = json.loads(report.read_text(encoding="utf-8"))
    return out


def timings(run: Path) -> list[tuple[str, int]]:
    path = run / "timings.tsv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [(row["step"], int(row["seconds"])) for row in csv.DictReader(fh, delimiter="\t")]


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def markdown(table: dict, data: dict, steps: list[tuple[str, int]]) -> str:
    lines = ["# STAR-1 in miniature: results", ""]
    for judge, arms in table.items():
        lines += [f"## Judge: {JUDGES[judge]}", "",
                  "| Model | " + " | ".join(BENCHMARKS.values()) + f" | {MEAN_TITLES[judge]} | XSTest full refusal |",
                  "|---" * (len(BENCHMARKS) + 3) + "|"]
        for arm, cells in arms.items():
            row = [pct(cells.get(name, {}).get("score")) for name in BENCHMARKS]
            xs = cells.get("xstest", {})
            refusal = xs.get("labels", {}).get("full_refusal", 0) / xs["n"] if xs.get("n") else None
            lines.append(f"| {ARMS[arm]} | " + " | ".join(row) + f" | {pct(cells['safety_avg']['score'])} | {pct(refusal)} |")
        unjudged = {f"{ARMS[a]}/{b}": c["unjudged"] for a, cells in arms.items()
                    for b, c in cells.items() if b in BENCHMARKS and c["unjudged"]}
        lines += ["", f"Unjudged items: {unjudged or 'none'}.", ""]
    if data:
        lines += ["## Data", ""]
        if "benign_samples" in data:
            lines.append(f"- benign look-alikes kept: {data['benign_samples']} of {data.get('benign_inputs', '?')} "
                         f"STAR-1 prompts; failures by step: {data.get('benign_failed_by_step', {})}")
        for arm in ("star1", "star1_benign"):
            report = data.get(f"train_{arm}")
            if report:
                used = report.get("data", {})
                lines.append(f"- train {ARMS[arm]}: {used.get('used', '?')} of {used.get('records', '?')} records "
                             f"({used.get('truncated', 0)} truncated), {report['global_step']} optimizer steps, "
                             f"{report['trained_tokens']:,} trained tokens, final loss {report['final_loss']:.3f}, "
                             f"{report['seconds']:.0f} s")
        lines.append("")
    if steps:
        lines += ["## Wall time", "", "| step | seconds |", "|---|---|"]
        lines += [f"| {name} | {seconds} |" for name, seconds in steps]
        lines += [f"| **total** | **{sum(s for _, s in steps)}** |", ""]
    return "\n".join(lines)


def plot(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [*BENCHMARKS, "safety_avg"]
    fig, axes = plt.subplots(1, len(table), figsize=(6.4 * len(table), 4.2), dpi=110, squeeze=False)
    for ax, (judge, arms) in zip(axes[0], table.items()):
        width = 0.8 / max(len(arms), 1)
        for i, (arm, cells) in enumerate(arms.items()):
            xs = [j + (i - (len(arms) - 1) / 2) * width for j in range(len(columns))]
            values = [100 * (cells.get(c, {}).get("score") or 0) for c in columns]
            bars = ax.bar(xs, values, width, label=ARMS[arm], color=f"C{i}")
            ax.bar_label(bars, fmt="%.0f", fontsize=7)
        ax.set_xticks(range(len(columns)), [*BENCHMARKS.values(), MEAN_TITLES[judge]], fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_ylabel(Y_LABELS[judge])
        ax.set_title(f"judge: {JUDGES[judge]}", fontsize=9)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("SmolLM2-135M-Instruct before and after STAR-1 fine-tuning (CPU)", fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    tmp.replace(path)


def compare(table: dict, committed: dict, tolerance: float) -> list[str]:
    """Cells (judge/arm/column) whose score differs from the committed one by more than tolerance points."""
    problems = []
    for judge, arms in committed.items():
        for arm, cells in arms.items():
            for column, cell in cells.items():
                ours = table.get(judge, {}).get(arm, {}).get(column)
                if ours is None:
                    problems.append(f"{judge}/{arm}/{column}: missing from this run")
                    continue
                a, b = cell.get("score"), ours.get("score")
                if (a is None) != (b is None) or (a is not None and abs(100 * (a - b)) > tolerance):
                    problems.append(f"{judge}/{arm}/{column}: committed {pct(a)}, this run {pct(b)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the OUT folder of mini_repro.sh")
    parser.add_argument("--compare", type=Path, help="committed results.json to check this run against")
    parser.add_argument("--tolerance", type=float, default=2.0, help="percentage points per cell (default 2)")
    args = parser.parse_args(argv)
    table = collect(args.run)
    if not table:
        print(f"mini_repro_summary: no eval results under {args.run / 'eval'}", file=sys.stderr)
        return 2
    data, steps = data_summary(args.run), timings(args.run)
    text = markdown(table, data, steps)
    (args.run / "summary.md").write_text(text, encoding="utf-8")
    results = {"table": table, "data": data, "timings": dict(steps)}
    (args.run / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    plot(table, args.run / "mini_repro.png")
    print(text)
    if args.compare:
        committed = json.loads(args.compare.read_text(encoding="utf-8"))["table"]
        problems = compare(table, committed, args.tolerance)
        if problems:
            print(f"differs from {args.compare} by more than {args.tolerance} points:", *problems, sep="\n  ")
            return 1
        print(f"matches {args.compare} within {args.tolerance} points in every cell")
    return 0


if __name__ == "__main__":
    sys.exit(main())
