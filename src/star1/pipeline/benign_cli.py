"""Subcommands ``star1 benign`` (STAR-benign look-alikes) and ``star1 mix``."""

from __future__ import annotations

from star1.console import make_console
from star1.pipeline.cli import ENGINE_HELP, _prompt_set_args, write_stage_outputs


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "benign", help="harmless look-alikes of harmful prompts, answered and judged (against over-refusal)")
    p.add_argument("--in", dest="input", required=True, help="harmful records, e.g. star1.jsonl")
    p.add_argument("--out", required=True, help="benign records (.json, .jsonl, .parquet)")
    p.add_argument("--engine", default="bundled",
                   help=f"rewrites and answers; {ENGINE_HELP}; or a YAML mapping of engine settings, "
                        "e.g. '{kind: bundled, length_is_failure: false}'")
    p.add_argument("--judge", help="scores the answers (default: --engine)")
    p.add_argument("--classifier", help="harm check of the rewrites (default: --engine)")
    p.add_argument("--policies", help="policy pack folder for the harm check (default: the bundled pack)")
    _prompt_set_args(p)
    p.add_argument("--cache", help="call cache file (default: in the user cache folder)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override an option, e.g. rewrite.max_tokens=64, generate.answer_max_tokens=256, "
                        "score.min_compliance=4, rewrite.harm_check=off")
    p.set_defaults(func=run_benign_command)

    p = subparsers.add_parser("mix", help="concatenate record files and shuffle them with a seed")
    p.add_argument("inputs", nargs="+", metavar="FILE", help="record files, e.g. star1.jsonl benign.jsonl")
    p.add_argument("--out", required=True, help="the mixed records")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    p.set_defaults(func=run_mix_command)


def _console():
    return make_console()


def engine_arg(text: str):
    """An engine string, or a YAML mapping of :class:`EngineConfig` settings (``{kind: ...}``)."""
    from star1.engines import parse_engine

    return parse_engine(text)


def steps_table(steps, title: str):
    from rich.table import Table

    table = Table(title=title)
    for column in ("step", "in", "out", "failed", "filtered", "cached calls", "new calls",
                   "prompt tok", "completion tok", "seconds"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for s in steps:
        c = s.calls
        table.add_row(s.stage, str(s.records_in), str(s.records_out), str(s.failed), str(s.skipped),
                      str(c.cached), str(c.new), str(c.prompt_tokens), str(c.completion_tokens),
                      f"{c.seconds:.1f}")
    return table


def run_benign_command(args) -> int:
    from star1.datasets.fetch import cache_dir
    from star1.engines import CallCache
    from star1.pipeline.benign import benign_engines, run_benign
    from star1.pipeline.build import EnginePool
    from star1.pipeline.cli import options_from_overrides
    from star1.pipeline.config import BenignStageOptions
    from star1.pipeline.paper import with_reference_settings
    from star1.prompts.reference import load_prompt_set
    from star1.records import read_records

    options = options_from_overrides(BenignStageOptions, args.overrides)
    if args.prompt_set == "paper":
        for step in ("rewrite", "generate", "score"):
            setattr(options, step, with_reference_settings(f"benign.{step}", getattr(options, step)))
    engine = engine_arg(args.engine)
    classifier = engine_arg(args.classifier) if args.classifier else engine
    judge = engine_arg(args.judge) if args.judge else engine
    pack = load_prompt_set(args.prompt_set, args.policies, args.local_dir)
    records = read_records(args.input)
    cache = CallCache(args.cache or cache_dir() / "llm_cache.sqlite")
    pool = EnginePool(cache)
    try:
        engines = benign_engines(pool, pack, engine, classifier, judge, options)
        run = run_benign(records, engines, pack, options)
    finally:
        pool.close()
        cache.close()
    failed_path = write_stage_outputs(args.out, run.records, run.failures)
    console = _console()
    console.print(steps_table(run.steps, f"star1 benign — {args.input}"))
    console.print(f"{len(run.records)} benign samples → {args.out}"
                  f"{f'; {len(run.failures)} failures → {failed_path}' if run.failures else ''}")
    return 0


def run_mix_command(args) -> int:
    from star1.pipeline.mix import composition_table, mix_files
    from star1.records import write_records

    mixed = mix_files(args.inputs, args.seed)
    write_records(args.out, mixed)
    _console().print(composition_table(mixed, f"star1 mix — {args.out} (seed {args.seed})"))
    return 0
