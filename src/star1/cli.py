"""The ``star1`` command. Each subcommand lives in the module of its stage and registers itself
here with ``add_parser(subparsers)``; this file only wires them up and turns known errors
into one-line messages.

Everything the command prints passes the one redaction step (:mod:`star1.redact`): the one-line
error, every log record (``-v`` debug output of the HTTP clients included) and warnings, and the
traceback of an unexpected error."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback

# Modules that define subcommands, in the order they appear in --help.
COMMAND_MODULES = [
    "star1.pipeline.cli",
    "star1.pipeline.benign_cli",
    "star1.collect.cli",
    "star1.train.cli",
    "star1.eval.cli",
]


def build_parser() -> argparse.ArgumentParser:
    from star1 import __version__

    parser = argparse.ArgumentParser(
        prog="star1", description="STAR-1: safer reasoning models with 1K policy-grounded samples.")
    parser.add_argument("--version", action="version", version=f"star1 {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that part of the toolkit is not present in this build
            raise
        module.add_parser(subparsers)
    return parser


def _redacted_excepthook(kind, value, tb) -> None:
    from star1.redact import printable

    sys.stderr.write(printable("".join(traceback.format_exception(kind, value, tb))))


def main(argv: list[str] | None = None) -> int:
    from star1.console import printable_streams

    with printable_streams():  # redacted, and no terminal control from a server reaches the screen
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    from star1.errors import Star1Error
    from star1.redact import install_log_redaction, redact, register_env_secrets

    register_env_secrets()  # OPENAI_API_KEY, HF_TOKEN, ...: before anything can echo them
    sys.excepthook = _redacted_excepthook
    # Logging before parsing: an old spelling's warning is printed while the arguments are read.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)  # warnings go through the handler, so through its filter
    install_log_redaction()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except Star1Error as exc:
        print(f"star1 {args.command}: error: {redact(str(exc))}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)  # 2: bad input or settings; 1: the run could not do its work
    except KeyboardInterrupt:
        print(f"\nstar1 {args.command}: interrupted; finished model calls are cached, "
              "rerun the same command to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
