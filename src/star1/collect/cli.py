"""star1 collect: pool the public harmful-prompt sources, de-duplicate and decontaminate them."""

from __future__ import annotations

import argparse
from pathlib import Path

from star1 import cliargs
from star1.collect.config import PAPER_DECONTAMINATION, CollectConfig
from star1.collect.sources import SOURCE_KEYS
from star1.console import make_console
from star1.datasets.safety import DECONTAMINATION_SETS
from star1.runlock import holding_output

EPILOG = f"""sources (processed in this order): {', '.join(SOURCE_KEYS)}
decontamination sets: {', '.join(DECONTAMINATION_SETS)}, or a .csv/.tsv/.json/.jsonl/.parquet file

Every setting is a field of CollectConfig (docs/collect.md): give them in a YAML file with
--config, or one by one with --set KEY=VALUE (values are YAML). By default the pool is
decontaminated against the paper's five evaluation sets:
  {', '.join(PAPER_DECONTAMINATION)}
--set decontaminate=[KEY,...] picks others, --no-decontaminate none. --protocol paper runs
the reference's collection as it was.

examples:
  star1 collect --sources all --out runs/x/prompts.jsonl
  star1 collect --sources gptfuzz,harmbench --local-dir ../shared/data --out prompts.jsonl
  star1 collect --in my.csv --out prompts.jsonl
  star1 collect --set user_sources='[{{path: my.csv, column: text, source_name: mine}}]' --out prompts.jsonl
  star1 collect --sources all --local-dir ../shared/data --protocol paper --out prompts.jsonl
  star1 collect --config collect.yaml --set tfidf_threshold=0.7 --out prompts.jsonl
"""

# Old spellings of single settings (kept one release): flag -> (setting, how its value is written).
_SETTING_ALIASES = {
    "--decontaminate": ("decontaminate", "[KEY,...]"), "--decontam-ngram": ("decontam_ngram", "N"),
    "--tfidf-threshold": ("tfidf_threshold", "X"), "--pool-tfidf-threshold": ("pool_tfidf_threshold", "X"),
    "--pool-embedding-threshold": ("pool_embedding_threshold", "X"),
    "--decontam-embedding-threshold": ("decontam_embedding_threshold", "X"),
    "--embedding-model": ("embedding_model", "NAME"), "--embedding-batch-size": ("embedding_batch_size", "N"),
    "--embedding-search": ("embedding_search", "exact|usearch"), "--threads": ("threads", "N"),
    "--examples": ("examples", "N"),
}
_SWITCH_ALIASES = ("--ngram-against-earlier-sources", "--wildjailbreak-include-benign", "--skip-embedding")
# Old options that described the --in files; they still apply to them.
_FILE_OPTIONS = {"--column": "column", "--category-column": "category_column", "--source-name": "source_name"}


def _csv_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _ngram_override(value: str) -> dict[str, int]:
    key, _, n = value.partition("=")
    if not key or not n.isdigit() or int(n) < 1:
        raise argparse.ArgumentTypeError(f"expected SOURCE=N with N >= 1, got {value!r}")
    return {key: int(n)}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "collect", help="pool public harmful-prompt datasets, de-duplicate and decontaminate them",
        description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    cliargs.add_io(p, "a prompt file of your own (CSV, TSV, JSON, JSONL, Parquet); repeatable; "
                      "= an entry {path: FILE} of user_sources",
                   "output prompts file (.jsonl, .json or .parquet)", in_required=False, many_in=True)
    p.add_argument("--report", metavar="PATH",
                   help="report JSON (default: next to --out, <name>.report.json)")
    cliargs.add_settings(p, CollectConfig, "tfidf_threshold")
    p.add_argument("--sources", type=_csv_list, metavar="KEYS",
                   help="comma-separated source keys, or 'all' (= --set sources=[KEY,...]; "
                        "default: all, or none when --in is given)")
    p.add_argument("--local-dir", metavar="DIR",
                   help="folder of dataset snapshots laid out like shared/data (= --set local_dir=DIR)")
    p.add_argument("--protocol", choices=("star1", "paper"),
                   help="star1 (default): the filters as configured; paper: the reference's collection "
                        "(= --set protocol=...)")
    p.add_argument("--no-decontaminate", action="store_true",
                   help="keep prompts that match the evaluation benchmarks, not for training data you "
                        "will evaluate on them (= --set decontaminate=[])")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or tables")
    cliargs.alias(p, "--from", key="input", instead="--in FILE", repeat=True)
    for flag, key in _FILE_OPTIONS.items():
        cliargs.alias(p, flag, key=key, instead=f"--set user_sources='[{{path: FILE, {key}: ...}}]'",
                      repeat=key == "source_name")
    for flag, (key, value) in _SETTING_ALIASES.items():
        kind = {"N": int, "X": float, "[KEY,...]": _csv_list}.get(value)
        cliargs.alias(p, flag, key=key, instead=f"--set {key}={value}", type=kind)
    for flag in _SWITCH_ALIASES:
        key = flag[2:].replace("-", "_")
        cliargs.alias(p, flag, key=key, instead=f"--set {key}=true", const=True)
    cliargs.alias(p, "--ngram", key="ngram_overrides", instead="--set ngram_overrides.SOURCE=N",
                  type=_ngram_override, repeat=True)
    p.set_defaults(func=run)


def _user_sources(args) -> list[dict] | None:
    """The --in files (and --from, their old spelling) with the old per-file options applied."""
    from star1.errors import ConfigError

    aliased = getattr(args, "aliased", None) or {}
    files = (args.input or []) + aliased.pop("input", [])
    options = {key: aliased.pop(key) for key in _FILE_OPTIONS.values() if key in aliased}
    names = options.pop("source_name", [])
    if options and not files or len(names) > len(files):
        raise ConfigError("--column, --category-column and --source-name describe --in files: give "
                          "one --in FILE per --source-name, or set them in user_sources")
    if not files:
        return None
    return [{"path": path, **options, **({"source_name": names[i]} if i < len(names) else {})}
            for i, path in enumerate(files)]


def load_config(args):
    """The run's CollectConfig: --config, then the shortcut flags and old spellings, then --set."""
    from star1.collect.config import CollectConfig
    from star1.errors import ConfigError
    from star1.settings import load_settings

    user_sources = _user_sources(args)  # takes the per-file options out of the aliases first
    if args.no_decontaminate and "decontaminate" in (getattr(args, "aliased", None) or {}):
        raise ConfigError("--no-decontaminate and --decontaminate contradict each other; give one")
    values = cliargs.given(args, "sources", "local_dir", "protocol")
    if args.no_decontaminate:
        values["decontaminate"] = []
    if user_sources is not None:
        values["user_sources"] = user_sources
    return load_settings(CollectConfig, args.config, args.overrides, values=values)


def report_path(out: str | Path, report: str | None) -> Path:
    if report:
        return Path(report)
    out = Path(out)
    stem = out.name.split(".")[0] or out.name
    return out.with_name(f"{stem}.report.json")


@holding_output  # one run per --out file
def run(args) -> int:
    from contextlib import nullcontext

    from star1.collect.pipeline import collect
    from star1.collect.report import build_report, print_report
    from star1.console import Progress
    from star1.io import detect_format, write_json_atomic
    from star1.records import write_records

    config = load_config(args)
    out = Path(args.out)
    detect_format(out)  # fail on a bad extension before any work
    console = make_console()
    if config.threads:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(config.threads)
    else:
        limits = nullcontext()
    with limits, Progress(enabled=not args.quiet, console=console) as progress:
        result = collect(config, progress)
    report = build_report(result, config)
    write_records(out, result.records)
    write_json_atomic(report_path(out, args.report), report)
    if not args.quiet:
        print_report(report, console)
        console.print(f"wrote {len(result.records)} prompts to {out} and the report to "
                      f"{report_path(out, args.report)}", highlight=False)
    return 0
