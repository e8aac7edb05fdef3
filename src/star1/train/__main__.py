"""``python -m star1.train`` / ``accelerate launch -m star1.train``: the same as ``star1 train``."""

import sys

from star1.cli import main as star1_main


def main(argv: list[str] | None = None) -> int:
    return star1_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
