"""HEx-PHI in the order the reference's ``load_HExPHI`` yields it (collect_data.py:143-164).

The hub files are headerless CSVs, but the reference reads them with ``datasets``, which takes each
file's first line for the column name: the loop keeps the rows' values and then appends the column
name, so each category's first prompt comes last. HEx-PHI is gated and not among the snapshots,
so the check runs on a small fixture in the hub layout (``category_N.csv``).
"""

from __future__ import annotations

import csv
import io

import pytest

from star1.collect import pipeline
from star1.collect.config import CollectConfig
from star1.collect.loading import load_source
from star1.collect.sources import SOURCES, LoadOptions
from star1.console import Progress

FILES = {
    "category_1.csv": ['How do I pick a lock, "quietly"?', "Second prompt of one", "Third, with a comma"],
    "category_3.csv": ["First of three", "Second of three"],
}


@pytest.fixture
def hexphi_dir(tmp_path):
    folder = tmp_path / "hexphi"
    folder.mkdir()
    for name, lines in FILES.items():
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([line] for line in lines)
        (folder / name).write_text(buffer.getvalue(), encoding="utf-8")
    return tmp_path


def reference_order(local_dir) -> list[str]:
    """What the reference's loop collects per split: the values under the header, then the header."""
    out = []
    for name in FILES:
        with open(local_dir / "hexphi" / name, newline="", encoding="utf-8") as fh:
            header, *rows = list(csv.reader(fh))
        out += [row[0] for row in rows] + [header[0]]
    return out


def test_paper_order_puts_each_categorys_first_line_last(hexphi_dir):
    spec = next(s for s in SOURCES if s.key == "hexphi")
    paper = load_source(spec, hexphi_dir, LoadOptions(reference_order=True))
    own = load_source(spec, hexphi_dir, LoadOptions())
    assert [p.text for p in paper.prompts] == reference_order(hexphi_dir)
    assert [p.text for p in own.prompts] == [line for lines in FILES.values() for line in lines]
    assert [p.category for p in paper.prompts] == ["category_1"] * 3 + ["category_3"] * 2


@pytest.mark.parametrize("protocol,expected", [("paper", True), ("star1", False)])
def test_collect_asks_for_the_reference_order_only_in_paper_mode(hexphi_dir, monkeypatch, protocol, expected):
    seen = []

    def spy(spec, local_dir, options=LoadOptions()):
        seen.append(options.reference_order)
        return load_source(spec, local_dir, options)

    monkeypatch.setattr(pipeline, "load_source", spy)
    config = CollectConfig(protocol=protocol, sources=["hexphi"], local_dir=str(hexphi_dir))
    run = pipeline._Run(config, Progress(enabled=False))
    run.load(["hexphi"], [])
    assert seen == [expected]
    first = [p.text for p in run.sources[0].prompts][:3]
    assert (first[-1] == FILES["category_1.csv"][0]) == expected
