"""``star1 eval``, ``star1 report`` and ``star1 judge-check``, in the grammar of :mod:`star1.cliargs`.

Settings are :class:`~star1.eval.settings.EvalConfig` and
:class:`~star1.eval.settings.JudgeCheckSettings` (``--config FILE``, ``--set KEY=VALUE``); the
flags of earlier releases stay one release as aliases that say what to write instead.
"""

from __future__ import annotations

import argparse
import time

from star1 import cliargs

EVAL_EXAMPLES = """examples:
  star1 eval --model bundled --benchmarks strongreject,xstest --limit 20 --out results/demo
  star1 eval --model openai:my-model@http://localhost:8000/v1 --benchmarks all \\
      --safety-judge openai:llama-guard-3-8b@http://localhost:8001/v1 \\
      --refusal-judge openai:gpt-4o@https://api.openai.com/v1 --out results/my-model
  star1 eval --in saved.jsonl --out results/regraded
  star1 eval --model openai:my-model@http://localhost:8000/v1 --protocol paper \\
      --safety-judge openai:meta-llama/Llama-Guard-3-8B@http://localhost:8001/v1 \\
      --refusal-judge openai:gpt-4o@https://api.openai.com/v1 --out results/paper
  star1 eval --model bundled --limit 2 --set max_tokens=64 --set label=smoke --out results/smoke
"""


def eval_epilog() -> str:
    """The examples, then the lists of settings, benchmarks, groups and protocols, read from the
    settings model and the registries (so a new benchmark or setting appears here by itself)."""
    import textwrap

    from star1.eval.registry import BENCHMARKS, GROUPS
    from star1.eval.settings import KEYWORD, PROTOCOLS, EvalConfig

    def listed(kind: str) -> str:
        return ", ".join(n for n, b in BENCHMARKS.items() if b.kind == kind)

    text = (f"settings (--set KEY=VALUE or a --config file): {', '.join(EvalConfig.model_fields)}.\n"
            f"benchmarks: {listed('safety')} (safety); {listed('reasoning')} (reasoning); or the groups "
            f"{', '.join(GROUPS)}.\n"
            f"judges: an engine, or '{KEYWORD}' (the default: refusal-keyword rules). Without a safety judge, "
            "safety benchmarks report the refusal-keyword rate (proxy): the share of replies with a refusal "
            "phrase, which does not measure whether replies are safe.\n"
            f"protocols: {', '.join(PROTOCOLS)} (docs/eval.md).\n"
            "sandbox (HumanEval's model-written code): bwrap, the default; unsafe-unshare and "
            "unsafe-rlimits-only only when you accept hostile code on the host.")
    paragraphs = [textwrap.fill(p, 100) for p in text.split("\n")]
    return EVAL_EXAMPLES + "\n" + "\n".join(paragraphs)


# Per-field flags of earlier releases: (flag, setting, type).
EVAL_ALIASES = [
    ("--label", "label", str), ("--safety-judge-format", "safety_judge_format", str),
    ("--judge-retries", "judge_retries", int), ("--judge-max-tokens", "judge_max_tokens", int),
    ("--samples", "samples", int), ("--max-tokens", "max_tokens", int), ("--cache", "cache", str),
    ("--batch-size", "batch_size", int), ("--code-timeout", "code_timeout", float),
    ("--workers", "workers", int),
]
JUDGE_CHECK_ALIASES = [("--judge-format", "safety_judge_format", str), ("--retries", "judge_retries", int),
                       ("--cache", "cache", str)]
QUIET = "quiet"


def add_parser(subparsers) -> None:
    from star1.eval.settings import PROTOCOLS, EvalConfig, JudgeCheckSettings

    p = subparsers.add_parser("eval", help="evaluate a model on the safety and reasoning benchmarks",
                              epilog=eval_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    cliargs.add_io(p, "saved responses to judge and grade instead of generating: JSONL rows "
                      "{benchmark, id, response} (= --set responses=PATH)",
                   "output folder: results.json, items/, calls.sqlite (= --set out=DIR)",
                   in_required=False, out_required=False)
    cliargs.add_settings(p, EvalConfig, "code_timeout")
    cliargs.add_roles(p, "model", "safety_judge", "refusal_judge", "checker")
    p.add_argument("--benchmarks", metavar="NAMES",
                   help="comma-separated names or groups (= --set benchmarks=NAMES; default: safety)")
    p.add_argument("--limit", type=int, metavar="N",
                   help="only the first N items of each benchmark (= --set limit=N)")
    p.add_argument("--protocol", choices=PROTOCOLS,
                   help="star1 (default): greedy, repetition penalty 1.2, strict judging; paper: the same "
                        "decoding, judged as the STAR-1 reference; r1: temperature 0.6, top-p 0.95, "
                        "k samples (= --set protocol=NAME)")
    p.add_argument("--local-dir", metavar="DIR",
                   help="folder of dataset snapshots (= --set local_dir=DIR; default: $STAR1_DATA_DIR)")
    cliargs.add_quiet(p)
    for flag, key, kind in EVAL_ALIASES:
        cliargs.alias(p, flag, key=key, instead=f"--set {key}=...", type=kind)
    cliargs.alias(p, "--responses", key="input", instead="--in RESPONSES")
    cliargs.alias(p, "--no-progress", key=QUIET, instead="-q/--quiet", const=True)
    p.set_defaults(func=run_eval_command)

    r = subparsers.add_parser("report", help="tables and a safety-vs-reasoning plot from eval results")
    cliargs.add_io(r, "a star1 eval --out folder or its results.json (repeat --in for each)",
                   "output folder: table.md, results.json, safety_vs_reasoning.png",
                   in_required=False, many_in=True)
    r.add_argument("old_results", nargs="*", metavar="RESULTS", help="(old spelling of --in RESULTS)")
    r.set_defaults(func=run_report_command)

    j = subparsers.add_parser("judge-check", help="agreement of a judge with human labels")
    cliargs.add_io(j, "labels: CSV or JSONL with columns prompt, response, label",
                   "write one prediction per row (same order, field 'prediction') to this JSONL",
                   in_required=False, out_required=False)
    cliargs.add_settings(j, JudgeCheckSettings, "safety_judge_format")
    j.add_argument("--judge", metavar="ENGINE",
                   help="the judge to check: an engine, or 'keyword' for the refusal-keyword rules "
                        "(= --set judge=ENGINE)")
    j.add_argument("--protocol", choices=["star1", "paper"],
                   help="paper: ask and read as the STAR-1 reference does (= --set protocol=NAME)")
    for flag, key, kind in JUDGE_CHECK_ALIASES:
        cliargs.alias(j, flag, key=key, instead=f"--set {key}=...", type=kind)
    cliargs.alias(j, "--labels", key="input", instead="--in LABELS")
    j.set_defaults(func=run_judge_check_command)


def _quiet(args) -> bool:
    """``-q``, or its old spelling ``--no-progress`` (not a setting: taken out of the aliases)."""
    aliased = getattr(args, "aliased", None) or {}
    return bool(args.quiet or aliased.pop(QUIET, False))


def eval_settings(args):
    from star1.eval.settings import EvalConfig
    from star1.settings import load_settings

    values = cliargs.given(args, "model", "safety_judge", "refusal_judge", "checker", "input=responses", "out",
                           "benchmarks", "limit", "protocol", "local_dir")
    return load_settings(EvalConfig, args.config, args.overrides, values=values)


def run_eval_command(args) -> int:
    from star1.eval.runner import run_eval

    quiet = _quiet(args)
    config = eval_settings(args)
    started = time.perf_counter()
    results = run_eval(config, show_progress=not quiet)
    _print_summary(results, time.perf_counter() - started)
    print(f"wrote {config.out}/results.json and {config.out}/items/")
    return 0


WIDE_TABLE = 110  # columns the summary table needs to show every number (measured at 120: fits)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def summary_rows(results) -> list[list[str]]:
    """The summary table's rows: benchmark, what the score measures, the headline score, the
    reference's and the strict way of counting, the views, n, unjudged, judge or grader."""
    rows = []
    for name, b in results.benchmarks.items():
        judge = b.judge.kind if b.kind == "safety" else b.judge.name
        both = "-" if b.score_reference is None and b.score_strict is None else (
            f"{_pct(b.score_reference)} / {_pct(b.score_strict)}")
        rows.append([name, b.metric_label or b.metric or "", _pct(b.score), both,
                     _pct(b.answer_only), _pct(b.reasoning_only), str(b.n), str(b.unjudged), str(judge)])
    return rows


def _print_summary(results, seconds: float, console=None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from star1.console import make_console

    console = console or make_console(stderr=False)
    rows = summary_rows(results)
    title = f"{results.model}  ({seconds:.0f} s)"
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
    for name, b in results.benchmarks.items():
        if b.judge.note:
            notes.setdefault(f"{b.judge.kind}: {b.judge.note}", []).append(name)
    for note, names in notes.items():
        console.print(escape(f"note ({', '.join(names)}) {note}"), soft_wrap=True)
    if any(b.reading for b in results.benchmarks.values()):
        console.print("ref / strict: the score counted the STAR-1 reference's way (every reply, "
                      "read as it reads them) / the strict way (unparsable replies left out); "
                      "answer, reasoning: the score on that part alone (docs/eval.md)", soft_wrap=True)


def run_report_command(args) -> int:
    from star1.errors import ConfigError
    from star1.eval.report import write_report

    if args.old_results:
        cliargs.log.warning("positional result folders are an old spelling and will go in the next "
                            "release; use --in RESULTS for each")
    inputs = (args.input or []) + args.old_results
    if not inputs:
        raise ConfigError("give the results to report: --in RESULTS (a star1 eval --out folder or "
                          "its results.json; repeat --in for each)")
    for path in write_report(inputs, args.out):
        print(f"wrote {path}")
    return 0


def run_judge_check_command(args) -> int:
    from star1.errors import ConfigError
    from star1.eval.judge_check import print_check, run_judge_check
    from star1.eval.settings import JUDGE_CHECK_RENAMED, JudgeCheckSettings
    from star1.settings import load_settings

    values = cliargs.given(args, "input", "judge", "protocol")
    labels = values.pop("input", None)  # a file, not a setting
    settings = load_settings(JudgeCheckSettings, args.config, args.overrides, values=values,
                             renamed=JUDGE_CHECK_RENAMED)
    if not labels:
        raise ConfigError("give the labels to check against: --in LABELS (CSV or JSONL with "
                          "columns prompt, response, label)")
    check = run_judge_check(settings, labels, out=args.out)
    print_check(check)
    return 0
