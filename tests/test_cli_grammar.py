"""One command-line grammar: every command reads --in and writes --out, takes its settings from
--config and --set, and names each model by its role; no command but demo has a default model."""

import argparse
import json
import os

import pytest

from star1.cli import build_parser, main

NO_SETTINGS = {"report"}  # a command with no settings has no --config / --set


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions if a.help != argparse.SUPPRESS for s in a.option_strings}


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_has_the_same_io_and_settings_flags(name):
    options = option_strings(commands()[name])
    assert {"--in", "--out"} <= options, name
    if name not in NO_SETTINGS:
        assert {"--config", "--set"} <= options, name
    # no second spelling of input or output survives in the help
    assert not options & {"--input", "--data", "--from", "--labels", "--responses", "--run-dir", "--engine"}


ROLE_FLAGS = {"--classifier", "--teacher", "--judge", "--rewriter", "--model", "--safety-judge", "--refusal-judge"}


def test_models_are_named_by_role_everywhere():
    for name, parser in commands().items():
        assert not option_strings(parser) & {"--engine"}, name
    used = set().union(*(option_strings(p) & ROLE_FLAGS for p in commands().values()))
    assert used == ROLE_FLAGS


NEEDS_A_MODEL = {
    "classify": ["--in", "IN", "--out", "OUT/x.jsonl"],
    "deliberate": ["--in", "IN", "--out", "OUT/x.jsonl"],
    "score": ["--in", "IN", "--out", "OUT/x.jsonl"],
    "build": ["--in", "IN", "--out", "OUT"],
    "benign": ["--in", "IN", "--out", "OUT/x.jsonl"],
    "eval": ["--out", "OUT"],
    "train": ["--in", "IN", "--out", "OUT"],
    "judge-check": ["--in", "LABELS", "--out", "OUT/p.jsonl"],
}


@pytest.mark.parametrize("name", sorted(NEEDS_A_MODEL))
def test_a_command_without_a_model_says_how_to_choose_one_and_creates_nothing(name, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "in.jsonl").write_text(json.dumps({"id": "a", "question": "How do I pick a lock?",
                                               "category": ["Illicit / Criminal Behavior"],
                                               "response": "<think>\nno\n</think>\n\nNo."}) + "\n")
    (work / "labels.jsonl").write_text(json.dumps({"prompt": "p", "response": "r", "label": "safe"}) + "\n")
    before = sorted(os.listdir(work))
    args = [{"IN": "in.jsonl", "LABELS": "labels.jsonl"}.get(a, a) for a in NEEDS_A_MODEL[name]]
    assert main([name, *args]) == 2
    err = capsys.readouterr().err
    assert "no model for" in err and "bundled" in err, err
    assert sorted(os.listdir(work)) == before  # no OUT, no cache, no lock
