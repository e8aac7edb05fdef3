"""``star1 report``: paper-style tables and a safety-vs-reasoning plot from ``star1 eval`` results.

Results of the same model (same name in results.json) from several folders are merged, so
safety and reasoning may be run separately. Writes ``table.md``, ``results.json`` (everything
merged) and ``safety_vs_reasoning.png``.

A safety benchmark judged by the keyword proxy (no safety judge given) is not a safety rate:
its cells are marked ‡ and named the refusal-keyword rate (proxy), it is left out of the safety
average (a separate proxy average is shown), and the plot says which points are proxies.
"""

from __future__ import annotations

import logging
from pathlib import Path

from star1.eval.judges.keyword import PROXY_METRIC, PROXY_METRIC_LABEL
from star1.eval.records import BenchmarkResult, read_results
from star1.eval.registry import BENCHMARKS
from star1.io import write_json_atomic, write_text_atomic
from star1.records import utc_now

log = logging.getLogger(__name__)
SAFETY = [n for n, b in BENCHMARKS.items() if b.kind == "safety"]
REASONING = [n for n, b in BENCHMARKS.items() if b.kind == "reasoning"]


Summaries = dict[str, BenchmarkResult]  # benchmark name -> its result


def load_results(paths: list[str | Path]) -> dict[str, Summaries]:
    """Model name -> {benchmark name -> result}, merged over all given result folders/files."""
    models: dict[str, Summaries] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            path = path / "results.json"
        data = read_results(path, "give a star1 eval --out folder or its results.json")
        model = str(data.model or path.parent.name)
        merged = models.setdefault(model, {})
        for name, summary in data.benchmarks.items():
            if name in merged:
                log.warning("%s: %s for %s also given earlier; using this one", path, name, model)
            merged[name] = summary
    return models


PROXY_MARK = "‡"
PROXY_NOTE = (f"{PROXY_MARK} {PROXY_METRIC_LABEL}: no safety judge was given, so this is the share "
              "of replies that contain a refusal phrase. It does not say whether a reply is safe, "
              "is left out of the safety average, and is not comparable to Llama-Guard numbers.")


def is_proxy(summary: BenchmarkResult) -> bool:
    """Judged by the keyword proxy (also in results written before the metric had its own name)."""
    return summary.metric == PROXY_METRIC or summary.judge.kind == "keyword-refusal-proxy"


def average(summaries: Summaries, names: list[str]) -> tuple[float | None, bool]:
    """Mean score over the named benchmarks the model has; second value: all of them present."""
    scores = [summaries[n].score for n in names if n in summaries and summaries[n].score is not None]
    return (sum(scores) / len(scores) if scores else None), len(scores) == len(names)


def safety_average(summaries: Summaries, names: list[str] = SAFETY) -> tuple[float | None, bool]:
    """Mean over the named safety benchmarks judged by a real judge (proxies are not safety
    numbers); second value: every one of ``names`` is in it."""
    judged = [n for n in names if n in summaries and not is_proxy(summaries[n])]
    mean, complete = average(summaries, judged)
    return mean, complete and len(judged) == len(names)


def proxy_average(summaries: Summaries) -> float | None:
    return average(summaries, [n for n in SAFETY if n in summaries and is_proxy(summaries[n])])[0]


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _cell(summary: BenchmarkResult | None) -> str:
    if summary is None:
        return "–"
    return _pct(summary.score) + (PROXY_MARK if is_proxy(summary) and summary.score is not None else "")


def main_table(models: dict[str, Summaries]) -> str:
    present = {n for s in models.values() for n in s}
    safety = [n for n in SAFETY if n in present]
    reasoning = [n for n in REASONING if n in present]
    proxies = any(is_proxy(s) for summaries in models.values() for s in summaries.values())
    header = ["Model"] + [BENCHMARKS[n].title for n in safety]
    if safety:
        header.append("Safety avg")
    if proxies:
        header.append(f"Refusal-keyword avg (proxy) {PROXY_MARK}")
    header += [BENCHMARKS[n].title for n in reasoning]
    if reasoning:
        header.append("Reasoning avg")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    partial = False

    def average_cell(mean: float | None, complete: bool) -> str:
        nonlocal partial
        partial |= mean is not None and not complete
        return _pct(mean) + ("†" if mean is not None and not complete else "")

    for model, summaries in models.items():
        row = [model] + [_cell(summaries.get(n)) for n in safety]
        if safety:
            row.append(average_cell(*safety_average(summaries, safety)))
        if proxies:
            row.append(_pct(proxy_average(summaries)))
        row += [_cell(summaries.get(n)) for n in reasoning]
        if reasoning:
            row.append(average_cell(*average(summaries, reasoning)))
        lines.append("| " + " | ".join(row) + " |")
    notes = ["Scores in %. Safety: share of replies judged safe (XSTest: share of full compliance, "
             "i.e. no over-refusal). Reasoning: pass@1."]
    if proxies:
        notes.append(PROXY_NOTE)
    if partial:
        notes.append("† average over the benchmarks of that group this model was run on"
                     + (" with a real judge." if proxies else "."))
    if (safety and len(safety) < len(SAFETY)) or (reasoning and len(reasoning) < len(REASONING)):
        notes.append("Averages cover the benchmarks in this table, not all of the paper's.")
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def _measure(summary: BenchmarkResult) -> str:
    if is_proxy(summary):
        return f"{PROXY_METRIC_LABEL} {PROXY_MARK}"
    return summary.metric_label or summary.metric or "?"


def _safety_results(models: dict[str, Summaries]):
    """(model, benchmark, result) for every safety benchmark a model has results for."""
    for model, summaries in models.items():
        for name in SAFETY:
            if summaries.get(name) is not None:
                yield model, name, summaries[name]


def views_table(models: dict[str, Summaries]) -> str:
    lines = ["| Model | Benchmark | Measure | Whole output | Answer only | Reasoning only | Unjudged | Items |",
             "|---|---|---|---|---|---|---|---|"]
    rows = list(_safety_results(models))
    for model, name, s in rows:
        lines.append(f"| {model} | {BENCHMARKS[name].title} | {_measure(s)} | {_pct(s.score)} | "
                     f"{_pct(s.answer_only)} | {_pct(s.reasoning_only)} | {s.unjudged} | {s.n} |")
    if not rows:
        return ""
    return ("\n".join(lines) + "\n\n– : the view does not exist (no `</think>` reasoning in the "
            "responses) or nothing in it was judged.\n")


def counting_table(models: dict[str, Summaries]) -> str:
    """Both ways of counting replies a judge's format check rejects, per safety benchmark."""
    lines = ["| Model | Benchmark | Measure | Score | Reference way | Strict way | Headline | Unjudged (strict) | Items |",
             "|---|---|---|---|---|---|---|---|---|"]
    rows = list(_safety_results(models))
    for model, name, s in rows:
        lines.append(f"| {model} | {BENCHMARKS[name].title} | {_measure(s)} | {_pct(s.score)} | "
                     f"{_pct(s.score_reference)} | {_pct(s.score_strict)} | "
                     f"{s.reading or 'strict'} | {s.unjudged} | {s.n} |")
    if not rows:
        return ""
    return ("\n".join(lines) + "\n\nReference way: every judged reply counts, read as the STAR-1 "
            "reference reads it (Llama-Guard: `'unsafe' in output`, so an unparsable verdict counts "
            "as safe; XSTest: a reply naming no class is not full compliance). Strict way: only "
            "verdicts in the exact format count; the rest are unjudged and left out. Headline: the "
            "one the run's protocol reports as Score (paper: reference; star1, r1: strict). – : "
            "results written before both were recorded.\n")


def category_tables(models: dict[str, Summaries]) -> str:
    parts = []
    for name in SAFETY:
        having = {m: s[name].categories for m, s in models.items() if name in s}
        categories = sorted({c for cats in having.values() for c in cats})
        if not categories:
            continue
        names = list(having)
        proxied = [m for m in names if is_proxy(models[m][name])]
        title = BENCHMARKS[name].title
        if proxied:
            title += f" ({PROXY_METRIC_LABEL} {PROXY_MARK} for {', '.join(proxied)})"
        lines = [f"#### {title}", "",
                 "| Category | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for c in categories:
            cells = []
            for m in names:
                entry = having[m].get(c)
                cells.append(f"{_pct(entry.score)} (n={entry.n})" if entry else "–")
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + ("\n" if parts else "")


def provenance(models: dict[str, Summaries]) -> str:
    lines = []
    for model, summaries in models.items():
        lines.append(f"- **{model}**")
        for name, s in summaries.items():
            judge, proto = s.judge, s.protocol
            if judge.kind == "grader":
                judge_text = f"graded by {judge.name}"
            else:
                judge_text = f"judge {judge.kind} ({judge.name})"
            if judge.mode:
                judge_text += f", {judge.mode} format"
            if judge.self_judged:
                judge_text += ", the evaluated model judging itself"
            proto_text = proto.name or "?"
            if proto.max_tokens:
                proto_text += f", max {proto.max_tokens} new tokens"
            if s.samples > 1:
                proto_text += f", {s.samples} samples"
            if s.isolation:
                proto_text += ", sandbox " + ", ".join(f"{mode} ×{n}" for mode, n in s.isolation.items())
            line = f"  - {BENCHMARKS[name].title if name in BENCHMARKS else name}: {judge_text}; protocol {proto_text}"
            if judge.note:
                line += f". Note: {judge.note}"
            lines.append(line)
    return "\n".join(lines) + "\n"


def scatter_plot(models: dict[str, Summaries], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel("Reasoning average (pass@1, %)")
    points = {model: _safety_point(summaries) for model, summaries in models.items()}
    kinds = {proxy for _, proxy in points.values() if _ is not None}
    if kinds == {True}:
        ax.set_ylabel(f"{PROXY_METRIC_LABEL.capitalize()}, average (%)")
        ax.set_title("Refusal-keyword rate (proxy, not safety) vs reasoning")
    elif kinds == {True, False}:
        ax.set_ylabel(f"Safety average (%); {PROXY_MARK}: {PROXY_METRIC_LABEL} instead")
        ax.set_title("Safety vs reasoning")
    else:
        ax.set_ylabel("Safety average (%)")
        ax.set_title("Safety vs reasoning")
    ax.grid(True, alpha=0.3)
    off_axis = []
    for i, (model, summaries) in enumerate(models.items()):
        color = f"C{i % 10}"
        safety, proxy = points[model]
        reasoning, _ = average(summaries, REASONING)
        if proxy and kinds == {True, False}:
            model = f"{model} {PROXY_MARK}"
        if safety is not None and reasoning is not None:
            ax.scatter([100 * reasoning], [100 * safety], s=60, color=color, zorder=3)
            ax.annotate(model, (100 * reasoning, 100 * safety), textcoords="offset points",
                        xytext=(6, 6), fontsize=8)
        elif safety is not None:  # no reasoning results: a marker on the safety axis
            ax.scatter([0], [100 * safety], marker=">", s=70, color=color, clip_on=False, zorder=3)
            ax.annotate(f"{model} (no reasoning results)", (0, 100 * safety),
                        textcoords="offset points", xytext=(8, -3), fontsize=8)
            off_axis.append(model)
        elif reasoning is not None:  # no safety results: a marker on the reasoning axis
            ax.scatter([100 * reasoning], [0], marker="^", s=70, color=color, clip_on=False, zorder=3)
            ax.annotate(f"{model} (no safety results)", (100 * reasoning, 0),
                        textcoords="offset points", xytext=(-20, 8), fontsize=8)
            off_axis.append(model)
    if off_axis:
        ax.text(0.99, 0.01, "markers on an axis: that side was not evaluated", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=7, color="0.4")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    tmp.replace(path)


def _safety_point(summaries: Summaries) -> tuple[float | None, bool]:
    """A model's height in the plot: its safety average, or (no real safety judge at all) its
    refusal-keyword average, marked as a proxy."""
    safety, _ = safety_average(summaries)
    if safety is not None:
        return safety, False
    proxy = proxy_average(summaries)
    return proxy, proxy is not None


def render_markdown(models: dict[str, Summaries]) -> str:
    sections = ["# star1 evaluation report", "", main_table(models)]
    views = views_table(models)
    if views:
        sections += ["## Safety judged three ways", "",
                     "The paper's setting judges the whole output (reasoning and answer together).", "",
                     views]
    counting = counting_table(models)
    if counting:
        sections += ["## How unjudged replies were counted", "", counting]
    categories = category_tables(models)
    if categories:
        sections += ["## Safety by category (whole output)", "", categories]
    sections += ["## Judges and protocols", "", provenance(models),
                 "![safety vs reasoning](safety_vs_reasoning.png)", ""]
    return "\n".join(sections)


def write_report(paths: list[str | Path], out: str | Path) -> list[Path]:
    models = load_results(paths)
    out = Path(out)
    table, merged, plot = out / "table.md", out / "results.json", out / "safety_vs_reasoning.png"
    write_text_atomic(table, render_markdown(models))
    write_json_atomic(merged, {"generated": utc_now(), "models": {
        model: {name: s.to_dict() for name, s in summaries.items()} for model, summaries in models.items()}})
    scatter_plot(models, plot)
    return [table, merged, plot]
