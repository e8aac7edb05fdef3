"""Subcommands for the data pipeline: demo, build, classify, generate, score, select."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from star1.console import make_console
from star1.engines import VALID_FORMS

ENGINE_HELP = "engine string: " + " | ".join(VALID_FORMS)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="the whole pipeline on the bundled model and built-in prompts")
    p.add_argument("--run-dir", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--limit", type=int, help="use only the first N demo prompts")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a build setting, e.g. deliberate.answer_max_tokens=64")
    p.set_defaults(func=run_demo)

    p = subparsers.add_parser("build", help="classify → deliberate → score → select from a config; rerun = resume")
    p.add_argument("--config", help="YAML build config")
    p.add_argument("--input", help="prompts file (overrides the config's input)")
    p.add_argument("--run-dir", help="output folder (overrides the config's run_dir)")
    p.add_argument("--engine", help=f"default engine for every stage; {ENGINE_HELP}")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any setting, e.g. select.n=500 or teacher=openai:...")
    p.add_argument("--dry-run", action="store_true",
                   help="say how many calls, tokens and dollars each stage would spend, then stop")
    p.set_defaults(func=run_build_command)

    for name, help_text, options in (
        ("classify", "sort prompts into safety categories", "ClassifyOptions"),
        ("generate", "policy-grounded reasoning and answers from a teacher model", "DeliberateOptions"),
        ("score", "judge samples on the three STAR-1 criteria", "ScoreOptions"),
    ):
        p = subparsers.add_parser(name, help=help_text)
        _io_args(p)
        p.add_argument("--engine", default="bundled", help=ENGINE_HELP)
        p.add_argument("--policies", help="policy pack folder (default: the bundled pack)")
        _prompt_set_args(p)
        p.add_argument("--cache", help="call cache file (default: in the user cache folder)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help=f"override a stage option ({options})")
        p.set_defaults(func=run_stage_command, stage=name)

    p = subparsers.add_parser("select", help="the paper's balanced selection of N samples")
    _io_args(p)
    p.add_argument("--n", type=int, default=1000, help="samples to keep (default 1000)")
    p.add_argument("--min-score", type=int, help="one minimum for all three scores (default 10)")
    p.add_argument("--keep-other", action="store_true", help="do not exclude the Other category")
    p.set_defaults(func=run_select_command)


def _prompt_set_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prompt-set", choices=["star1", "paper"], default="star1",
                   help="star1: the project's prompts and policies (default); paper: the STAR-1 "
                        "reference's, with its sampling (docs/fidelity.md)")
    p.add_argument("--local-dir", help="paper prompt set: folder holding star1_reference/ "
                                       "(default: $STAR1_DATA_DIR, else the pinned download)")


def _io_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--in", dest="input", required=True, help="input records (.json, .jsonl, .parquet)")
    p.add_argument("--out", required=True, help="output records (.json, .jsonl, .parquet)")


def _console():
    return make_console()


def run_demo(args) -> int:
    from star1.data import demo_prompts_path
    from star1.pipeline.config import load_build_config
    from star1.pipeline.demo import DEMO_SETTINGS

    base = {**DEMO_SETTINGS, "input": str(demo_prompts_path()), "run_dir": args.run_dir}
    if args.limit:
        base["limit"] = args.limit
    config = load_build_config(None, args.overrides, base=base)
    return _build(config, "star1 demo" + "".join(f" {shlex.quote(a)}" for a in sys.argv[2:]))


def run_build_command(args) -> int:
    from star1.errors import ConfigError
    from star1.pipeline.config import load_build_config

    overrides = list(args.overrides)
    for key, value in (("input", args.input), ("run_dir", args.run_dir), ("engine", args.engine)):
        if value:
            overrides.insert(0, f"{key}={value}")
    if not args.config and not args.input:
        raise ConfigError("give --config FILE or at least --input PROMPTS")
    config = load_build_config(args.config, overrides)
    if args.dry_run:
        from star1.pipeline.build import load_inputs
        from star1.pipeline.plan import plan_build, plan_notes, plan_table

        console = _console()
        plans = plan_build(config, load_inputs(config))
        console.print(plan_table(plans))
        for note in plan_notes(config, plans):
            console.print(note, soft_wrap=True, markup=False)
        return 0
    return _build(config, "star1 " + " ".join(shlex.quote(a) for a in sys.argv[1:]))


def _build(config, command_line: str) -> int:
    from star1.pipeline.build import run_build, summary_table

    console = _console()
    summary = run_build(config, command_line=command_line, console=console)
    console.print(summary_table(summary))
    console.print(f"{summary.selected} samples → {summary.output}  ({summary.seconds:.0f} s; "
                  f"card: {Path(summary.run_dir) / 'README.md'})")
    return 0


def _stage_options(stage: str, overrides: list[str], prompt_set: str = "star1"):
    from star1.pipeline.classify import ClassifyOptions
    from star1.pipeline.deliberate import DeliberateOptions
    from star1.pipeline.paper import with_reference_settings
    from star1.pipeline.score import ScoreOptions

    model = {"classify": ClassifyOptions, "generate": DeliberateOptions, "score": ScoreOptions}[stage]
    options = options_from_overrides(model, overrides)
    if prompt_set == "paper":
        options = with_reference_settings({"generate": "deliberate"}.get(stage, stage), options)
    return options


def options_from_overrides(model, overrides: list[str]):
    """An options model from ``--set key.path=value`` flags; errors name the key and the options."""
    from pydantic import ValidationError

    from star1.errors import ConfigError
    from star1.pipeline.config import _set_path, parse_override

    data: dict = {}
    for override in overrides:
        _set_path(data, *parse_override(override))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"--set {'.'.join(map(str, err['loc']))}: {err['msg']} "
                          f"(options: {', '.join(model.model_fields)})") from None


def run_stage_command(args) -> int:
    from star1.datasets.fetch import cache_dir
    from star1.engines import CachedEngine, CallCache, make_engine
    from star1.pipeline.build import namespace, require_field
    from star1.pipeline.classify import classify
    from star1.pipeline.deliberate import deliberate
    from star1.pipeline.score import score
    from star1.prompts.reference import load_prompt_set
    from star1.records import read_records

    options = _stage_options(args.stage, args.overrides, args.prompt_set)
    pack = load_prompt_set(args.prompt_set, args.policies, args.local_dir)
    records = read_records(args.input)
    if args.stage in ("generate", "score"):
        require_field(records, args.input, "category")
    if args.stage == "score":
        require_field(records, args.input, "response")
    stage = {"classify": "classify", "generate": "deliberate", "score": "score"}[args.stage]
    cache = CallCache(args.cache or cache_dir() / "llm_cache.sqlite")
    engine = CachedEngine(make_engine(args.engine), cache, namespace(stage, pack))
    try:
        run = {"classify": classify, "generate": deliberate, "score": score}[args.stage]
        result = run(records, engine, pack, options)
    finally:
        engine.close()
        cache.close()
    failed_path = write_stage_outputs(args.out, result.records, result.failures)
    stats = engine.stats
    _console().print(
        f"{args.stage}: {len(records)} in, {len(result.records)} out, {len(result.failures)} failed"
        f"{f' (see {failed_path})' if result.failures else ''}; calls: {stats.cached} cached, "
        f"{stats.new} new; tokens: {stats.prompt_tokens} prompt, {stats.completion_tokens} completion")
    return 0


def write_stage_outputs(out: str, records, failures) -> Path:
    """The stage's records to ``out`` and its failures next to it (``<out>.failed.jsonl``,
    rewritten on every run so it never lists failures an earlier run had); both atomic."""
    from star1.io import write_rows
    from star1.records import write_records

    write_records(out, records)
    failed_path = Path(out).with_suffix(".failed.jsonl")
    if failures or failed_path.exists():
        write_rows(failed_path, [f.to_dict() for f in failures])
    return failed_path


def run_select_command(args) -> int:
    from star1.pipeline.select import SelectOptions, select
    from star1.records import SCORE_KEYS, read_records, write_records

    options = SelectOptions(n=args.n, exclude_other=not args.keep_other)
    if args.min_score is not None:
        options.min_scores = {k: args.min_score for k in SCORE_KEYS}
    records = read_records(args.input)
    result = select(records, options)
    write_records(args.out, result.records)
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(result.removed_by_filter.items())) or "none"
    _console().print(f"select: {len(records)} in, {result.passed_filter} passed the filter "
                     f"(not selectable: {reasons}), {len(result.records)} selected → {args.out}")
    return 0
