"""``star1 eval``, ``star1 report`` and ``star1 judge-check``."""

from __future__ import annotations

import argparse
import time

EVAL_EPILOG = """examples:
  star1 eval --model bundled --benchmarks strongreject,xstest --limit 20 --out results/demo
  star1 eval --model openai:my-model@http://localhost:8000/v1 --benchmarks all \\
      --safety-judge openai:llama-guard-3-8b@http://localhost:8001/v1 \\
      --refusal-judge openai:gpt-4o@https://api.openai.com/v1 --out results/my-model
  star1 eval --responses saved.jsonl --out results/regraded
  star1 eval --model openai:my-model@http://localhost:8000/v1 --protocol paper \
      --safety-judge openai:meta-llama/Llama-Guard-3-8B@http://localhost:8001/v1 \
      --refusal-judge openai:gpt-4o@https://api.openai.com/v1 --out results/paper

benchmarks: strongreject, jbb, wildchat, wildjailbreak, xstest (safety); aime24, math500, gpqa,
mmlu_pro, humaneval (reasoning); or the groups safety, reasoning, all.
judges: an engine string, or 'keyword' (the default: refusal-keyword rules). Without a safety
judge, safety benchmarks report the refusal-keyword rate (proxy): the share of replies with a
refusal phrase, which does not measure whether replies are safe.
protocols: star1 (default) and paper decode alike (greedy, repetition penalty 1.2); paper also
judges as the STAR-1 reference does (docs/eval.md)."""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate a model on the safety and reasoning benchmarks",
                              epilog=EVAL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="engine string of the model under test (bundled, transformers:..., openai:...@...)")
    p.add_argument("--benchmarks", help="comma-separated names or groups (default: safety)")
    p.add_argument("--out", help="output folder (results.json, items/, calls.sqlite)")
    p.add_argument("--label", help="name of the model in reports (default: openai:<model> for a served "
                                   "model, else the engine string without options)")
    p.add_argument("--responses", help="JSONL of saved responses (benchmark, id, response): judge and grade them, no generation")
    p.add_argument("--safety-judge", help="engine string of a Llama-Guard-3-format judge, or 'keyword'")
    p.add_argument("--safety-judge-format", choices=["auto", "conversation", "instruction"],
                   help="conversation: a guard model's own template; instruction: a general model "
                        "prompted with the format (auto: 'guard' in the name -> conversation)")
    p.add_argument("--refusal-judge", help="engine string of the XSTest refusal judge, or 'keyword'")
    p.add_argument("--judge-retries", type=int,
                   help="retries of an unparsable judge answer (default 2; paper: 0, as the reference)")
    p.add_argument("--judge-max-tokens", type=int,
                   help="judges' answer budget (default 24 safety / 48 refusal; paper: 100 / the "
                        "server's default, as the reference; raise it for reasoning models)")
    p.add_argument("--protocol", choices=["star1", "paper", "r1"],
                   help="star1 (default): greedy, repetition penalty 1.2, strict judging; paper: the "
                        "same decoding, judged and built as the STAR-1 reference; r1: temperature "
                        "0.6, top-p 0.95, k samples")
    p.add_argument("--samples", type=int, help="samples per item (r1 protocol; default 4)")
    p.add_argument("--max-tokens", type=int, help="max new tokens for every benchmark (default: paper settings per benchmark)")
    p.add_argument("--limit", type=int, help="evaluate only the first N items of each benchmark")
    p.add_argument("--local-dir", help="folder of dataset snapshots (default: $STAR1_DATA_DIR)")
    p.add_argument("--cache", help="call cache file (default: OUT/calls.sqlite)")
    p.add_argument("--batch-size", type=int, help="local engines: requests per batch")
    p.add_argument("--code-timeout", type=float, help="seconds per HumanEval program (default 10)")
    p.add_argument("--workers", type=int, help="HumanEval programs run in parallel (default 4; they mostly wait on process start-up)")
    p.add_argument("--config", help="YAML file with these settings (flags override it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_eval_command)

    r = subparsers.add_parser("report", help="tables and a safety-vs-reasoning plot from eval results")
    r.add_argument("results", nargs="+", help="result folders (or results.json files) of star1 eval")
    r.add_argument("--out", required=True, help="output folder: table.md, results.json, safety_vs_reasoning.png")
    r.set_defaults(func=run_report_command)

    j = subparsers.add_parser("judge-check", help="agreement of a judge with human labels")
    j.add_argument("--judge", required=True, help="engine string, or 'keyword' for the keyword refusal classifier")
    j.add_argument("--labels", required=True, help="CSV or JSONL with columns prompt, response, label")
    j.add_argument("--out", help="write one prediction per row (same order, field 'prediction') to this JSONL")
    j.add_argument("--judge-format", choices=["auto", "conversation", "instruction"], default="auto",
                   help="safety judges: how to ask (see star1 eval --safety-judge-format)")
    j.add_argument("--retries", type=int, default=2, help="retries of an unparsable judge answer")
    j.add_argument("--cache", help="call cache file (default: the user cache)")
    j.set_defaults(func=run_judge_check_command)


def run_eval_command(args) -> int:
    from star1.errors import ConfigError
    from star1.eval.runner import run_eval
    from star1.eval.settings import load_config

    overrides = {
        "model": args.model, "out": args.out, "label": args.label, "responses": args.responses,
        "benchmarks": [b for b in args.benchmarks.split(",") if b.strip()] if args.benchmarks else None,
        "safety_judge": args.safety_judge, "safety_judge_format": args.safety_judge_format,
        "refusal_judge": args.refusal_judge, "judge_retries": args.judge_retries,
        "judge_max_tokens": args.judge_max_tokens,
        "protocol": args.protocol, "samples": args.samples, "max_tokens": args.max_tokens,
        "limit": args.limit, "local_dir": args.local_dir, "cache": args.cache,
        "batch_size": args.batch_size, "code_timeout": args.code_timeout, "workers": args.workers,
    }
    if not args.out and not args.config:
        raise ConfigError("--out is required")
    config = load_config(args.config, overrides)
    started = time.perf_counter()
    results = run_eval(config, show_progress=not args.no_progress)
    _print_summary(results, time.perf_counter() - started)
    print(f"wrote {config.out}/results.json and {config.out}/items/")
    return 0


WIDE_TABLE = 110  # columns the summary table needs to show every number (measured at 120: fits)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def summary_rows(results: dict) -> list[list[str]]:
    """The summary table's rows: benchmark, what the score measures, the headline score, the
    reference's and the strict way of counting, the views, n, unjudged, judge or grader."""
    rows = []
    for name, b in results["benchmarks"].items():
        judge = b["judge"].get("kind") if b["kind"] == "safety" else b["judge"].get("name")
        both = "-" if b.get("score_reference") is None and b.get("score_strict") is None else (
            f"{_pct(b.get('score_reference'))} / {_pct(b.get('score_strict'))}")
        rows.append([name, b.get("metric_label") or b.get("metric", ""), _pct(b["score"]), both,
                     _pct(b.get("answer_only")), _pct(b.get("reasoning_only")), str(b["n"]),
                     str(b.get("unjudged", 0)), str(judge)])
    return rows


def _print_summary(results: dict, seconds: float, console=None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from star1.console import make_console

    console = console or make_console(stderr=False)
    rows = summary_rows(results)
    title = f"{results['model']}  ({seconds:.0f} s)"
    if console.width < WIDE_TABLE:
        # Too narrow for the table's ten columns: one line per benchmark, each number labelled,
        # folded by the terminal rather than squeezed out of sight by rich.
        console.print(escape(title), soft_wrap=True)
        for name, measure, score, both, answer, reasoning, n, unjudged, judge in rows:
            console.print(escape(f"{name}: {measure} {score} %; ref / strict {both}; answer {answer}; "
                                 f"reasoning {reasoning}; n {n}; unjudged {unjudged}; {judge}"),
                          soft_wrap=True)
    else:
        table = Table(title=escape(title))
        table.add_column("benchmark", no_wrap=True)
        table.add_column("measure", ratio=2, overflow="fold")
        for column in ("score %", "ref / strict", "answer", "reasoning", "n", "unjudged"):
            table.add_column(column, justify="right", no_wrap=True)
        table.add_column("judge / grader", ratio=2, overflow="fold")
        for row in rows:
            table.add_row(*map(escape, row))
        console.print(table)
    notes: dict[str, list[str]] = {}
    for name, b in results["benchmarks"].items():
        if b["judge"].get("note"):
            notes.setdefault(f"{b['judge']['kind']}: {b['judge']['note']}", []).append(name)
    for note, names in notes.items():
        console.print(escape(f"note ({', '.join(names)}) {note}"), soft_wrap=True)
    if any(b.get("reading") for b in results["benchmarks"].values()):
        console.print("ref / strict: the score counted the STAR-1 reference's way (every reply, "
                      "read as it reads them) / the strict way (unparsable replies left out); "
                      "answer, reasoning: the score on that part alone (docs/eval.md)", soft_wrap=True)


def run_report_command(args) -> int:
    from star1.eval.report import write_report

    paths = write_report(args.results, args.out)
    for path in paths:
        print(f"wrote {path}")
    return 0


def run_judge_check_command(args) -> int:
    from star1.eval.judge_check import print_check, run_judge_check

    check = run_judge_check(args.judge, args.labels, out=args.out, mode=args.judge_format,
                            retries=args.retries, cache_path=args.cache)
    print_check(check)
    return 0
