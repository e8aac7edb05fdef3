"""star1 collect: pool the public harmful-prompt sources, de-duplicate and decontaminate them."""

from __future__ import annotations

import argparse
from pathlib import Path

from star1.console import make_console
from star1.collect.config import PAPER_DECONTAMINATION
from star1.collect.sources import SOURCE_KEYS
from star1.datasets.safety import DECONTAMINATION_SETS

EPILOG = f"""sources (processed in this order): {', '.join(SOURCE_KEYS)}
decontamination sets: {', '.join(DECONTAMINATION_SETS)}, or a .csv/.tsv/.json/.jsonl/.parquet file

By default the pool is decontaminated against the paper's five evaluation sets
({', '.join(PAPER_DECONTAMINATION)});
--decontaminate picks others, --no-decontaminate none. --protocol paper runs the reference's
collection as it was (docs/collect.md).

examples:
  star1 collect --sources all --out runs/x/prompts.jsonl
  star1 collect --sources gptfuzz,harmbench --local-dir ../shared/data --out prompts.jsonl
  star1 collect --from my.csv --column text --source-name mine --out prompts.jsonl
  star1 collect --sources all --local-dir ../shared/data --protocol paper --out prompts.jsonl
"""


def _csv_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _ngram_override(value: str) -> tuple[str, int]:
    key, _, n = value.partition("=")
    if not key or not n.isdigit() or int(n) < 1:
        raise argparse.ArgumentTypeError(f"expected SOURCE=N with N >= 1, got {value!r}")
    return key, int(n)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "collect", help="pool public harmful-prompt datasets, de-duplicate and decontaminate them",
        description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output prompts file (.jsonl, .json or .parquet)")
    p.add_argument("--report", help="report JSON (default: next to --out, <name>.report.json)")
    p.add_argument("--config", help="YAML file of collect settings; command-line options override it")
    p.add_argument("--sources", type=_csv_list, help="comma-separated source keys, or 'all' "
                   "(default: all, or none when --from is given)")
    p.add_argument("--from", dest="user_files", action="append", default=[], metavar="FILE",
                   help="a prompt file of your own (CSV, TSV, JSON, JSONL, Parquet); repeatable")
    p.add_argument("--column", help="the prompt column of --from files (default: question, prompt, text, ...)")
    p.add_argument("--category-column", help="an optional category column of --from files")
    p.add_argument("--source-name", dest="source_names", action="append", default=[],
                   help="source name for the --from file at the same position (default: file name)")
    p.add_argument("--local-dir", help="folder of dataset snapshots laid out like shared/data")
    p.add_argument("--protocol", choices=("star1", "paper"),
                   help="star1 (default): the filters as configured; paper: the reference's collection "
                        "(8-grams also against earlier sources, its tie rule and row order, fixed thresholds)")
    decon = p.add_mutually_exclusive_group()
    decon.add_argument("--decontaminate", type=_csv_list,
                       help="comma-separated benchmark keys or files (default: the paper's five sets)")
    decon.add_argument("--no-decontaminate", action="store_true",
                       help="keep prompts that match the evaluation benchmarks (not for training data "
                            "you will evaluate on them)")
    p.add_argument("--ngram", dest="ngram_overrides", type=_ngram_override, action="append", default=[],
                   metavar="SOURCE=N", help="self de-duplication n-gram size for a source; repeatable")
    p.add_argument("--decontam-ngram", type=int, help="n of the decontamination n-gram filter (default 8)")
    p.add_argument("--tfidf-threshold", type=float, help="step 3 cosine threshold (default 0.6)")
    p.add_argument("--pool-tfidf-threshold", type=float, help="step 4a cosine threshold (default 0.6)")
    p.add_argument("--pool-embedding-threshold", type=float, help="step 4b cosine threshold (default 0.7)")
    p.add_argument("--decontam-embedding-threshold", type=float, help="step 5 cosine threshold (default 0.7)")
    p.add_argument("--ngram-against-earlier-sources", action="store_true", default=None,
                   help="step 2 also matches prompts accepted from earlier sources (as the reference code did)")
    p.add_argument("--wildjailbreak-include-benign", action="store_true", default=None,
                   help="take every WildJailbreak train row's vanilla prompt, benign ones too (the reference)")
    p.add_argument("--embedding-model", help="sentence-transformers model (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--embedding-batch-size", type=int)
    p.add_argument("--embedding-search", choices=("exact", "usearch"),
                   help="exact blocked search (default) or usearch HNSW candidates, scored exactly")
    p.add_argument("--skip-embedding", action="store_true", default=None,
                   help="skip steps 4b and 5 (faster; differs from the paper)")
    p.add_argument("--threads", type=int, help="CPU threads for embedding and matrix products")
    p.add_argument("--examples", type=int, help="removed-prompt examples kept per filter (default 5)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or tables")
    p.set_defaults(func=run)


def _config_from_args(args):
    from star1.collect.config import UserSource, load_config
    from star1.errors import ConfigError

    if len(args.source_names) > len(args.user_files):
        raise ConfigError("more --source-name than --from files")
    user = [UserSource(path=f, column=args.column, category_column=args.category_column,
                       source_name=args.source_names[i] if i < len(args.source_names) else None)
            for i, f in enumerate(args.user_files)]
    sources = args.sources
    if sources is None and user:
        sources = []
    overrides = {
        "sources": sources, "user_sources": [u.model_dump() for u in user] or None,
        "protocol": args.protocol, "local_dir": args.local_dir,
        "decontaminate": [] if args.no_decontaminate else args.decontaminate,
        "ngram_overrides": dict(args.ngram_overrides) or None, "decontam_ngram": args.decontam_ngram,
        "tfidf_threshold": args.tfidf_threshold, "pool_tfidf_threshold": args.pool_tfidf_threshold,
        "pool_embedding_threshold": args.pool_embedding_threshold,
        "decontam_embedding_threshold": args.decontam_embedding_threshold,
        "ngram_against_earlier_sources": args.ngram_against_earlier_sources,
        "wildjailbreak_include_benign": args.wildjailbreak_include_benign,
        "embedding_model": args.embedding_model, "embedding_batch_size": args.embedding_batch_size,
        "embedding_search": args.embedding_search, "skip_embedding": args.skip_embedding,
        "threads": args.threads, "examples": args.examples,
    }
    return load_config(args.config, overrides)


def report_path(out: str | Path, report: str | None) -> Path:
    if report:
        return Path(report)
    out = Path(out)
    stem = out.name.split(".")[0] or out.name
    return out.with_name(f"{stem}.report.json")


def run(args) -> int:
    from contextlib import nullcontext


    from star1.collect.pipeline import collect
    from star1.console import Progress
    from star1.collect.report import build_report, print_report
    from star1.io import detect_format, write_json_atomic
    from star1.records import write_records

    config = _config_from_args(args)
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
