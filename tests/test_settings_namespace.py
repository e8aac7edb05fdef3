"""One settings namespace: a setting has one dotted key in every command that has it, a build
config works for every pipeline command, the flat keys of the last release still work (with a
warning), and every command's --help example is generated from its settings model and parses."""

import argparse
import json
import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from star1.cli import build_parser, main
from star1.records import SCORE_KEYS, read_records
from star1.settings import parse_override, set_path

ROOT = Path(__file__).resolve().parents[1]


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


WITH_SETTINGS = sorted(name for name, p in commands().items() if p.get_default("settings_model"))


def test_every_command_with_settings_has_a_generated_example():
    assert set(WITH_SETTINGS) >= {"build", "classify", "deliberate", "score", "select", "benign", "demo",
                                  "collect", "eval", "judge-check", "train", "mix"}


@pytest.mark.parametrize("name", WITH_SETTINGS)
def test_the_help_example_parses(name, capsys):
    parser = commands()[name]
    example = parser.get_default("settings_example")
    with pytest.raises(SystemExit):
        main([name, "--help"])
    assert f"--set {example}" in " ".join(capsys.readouterr().out.split())
    key, value = parse_override(example)
    data: dict = {}
    set_path(data, key, value)
    model = parser.get_default("settings_model")
    try:
        model.model_validate(data)
    except ValidationError as exc:  # only settings the example does not give may be missing
        wrong = [e for e in exc.errors() if ".".join(map(str, e["loc"])).startswith(key)]
        assert not wrong, wrong


def scored(tmp_path, n=3) -> Path:
    path = tmp_path / "scored.jsonl"
    path.write_text("".join(json.dumps({
        "id": str(i), "question": f"question {i}", "source": "s", "category": ["Self-Harm"],
        "response": "<think>\nr\n</think>\n\na", "score": dict.fromkeys(SCORE_KEYS, 10)}) + "\n"
        for i in range(n)))
    return path


def test_select_takes_the_build_key(tmp_path):
    out = tmp_path / "selected.jsonl"
    assert main(["select", "--in", str(scored(tmp_path)), "--out", str(out), "--set", "select.n=1"]) == 0
    assert len(read_records(out)) == 1


def test_the_flat_key_of_the_last_release_still_works_with_a_warning(tmp_path, caplog):
    out = tmp_path / "selected.jsonl"
    with caplog.at_level(logging.WARNING, logger="star1"):
        assert main(["select", "--in", str(scored(tmp_path)), "--out", str(out), "--set", "n=2"]) == 0
    assert len(read_records(out)) == 2
    assert "--set n is an old key" in caplog.text and "select.n" in caplog.text


def test_a_stage_command_reads_a_build_config_and_ignores_the_sections_it_does_not_run(tmp_path, capsys):
    """The shipped OpenAI build config, dry-run by star1 classify: no call is made (the dry run
    builds every request against the call cache alone), and only classify is planned."""
    code = main(["classify", "--config", str(ROOT / "configs" / "build" / "openai.yaml"), "--dry-run",
                 "--in", str(scored(tmp_path)), "--set", "classify.max_tokens=64", "--set", "cache=" +
                 str(tmp_path / "cache.sqlite")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "star1 classify --dry-run" in err and "max_tokens=64" in err
    assert "deliberate" not in err and "| score" not in err
    assert not (tmp_path / "cache.sqlite").exists()  # a dry run writes nothing


def test_an_old_flat_config_file_is_read_where_its_keys_belong_now(tmp_path, caplog):
    from star1.pipeline.config import load_build_config

    old = tmp_path / "classify.yaml"
    old.write_text("max_tokens: 64\nretries: 0\nclassifier: bundled\n")
    with caplog.at_level(logging.WARNING, logger="star1"):
        config = load_build_config(old, command="classify")
    assert (config.classify.max_tokens, config.classify.retries) == (64, 0)
    assert "'max_tokens' is an old key" in caplog.text
    with pytest.raises(Exception, match="max_tokens"):
        load_build_config(old, command="build")  # build never took it flat


def test_judge_check_uses_the_keys_of_eval(caplog):
    from star1.eval.settings import JUDGE_CHECK_RENAMED, EvalConfig, JudgeCheckSettings
    from star1.settings import load_settings

    shared = {"safety_judge_format", "judge_retries"}
    assert shared <= set(EvalConfig.model_fields) and shared <= set(JudgeCheckSettings.model_fields)
    with caplog.at_level(logging.WARNING, logger="star1"):
        settings = load_settings(JudgeCheckSettings, overrides=["retries=1", "judge_format=instruction"],
                                 renamed=JUDGE_CHECK_RENAMED)
    assert (settings.judge_retries, settings.safety_judge_format) == (1, "instruction")
    assert "write --set judge_retries" in caplog.text


def test_eval_help_lists_come_from_the_registries():
    from star1.eval.cli import eval_epilog
    from star1.eval.registry import BENCHMARKS
    from star1.eval.settings import EvalConfig

    text = " ".join(eval_epilog().split())
    assert all(name in text for name in BENCHMARKS)
    assert all(field in text for field in EvalConfig.model_fields)


def test_select_with_the_paper_protocol_uses_the_reference_tie_break():
    from star1.pipeline.config import load_build_config

    assert load_build_config(values={"protocol": "paper"}, command="select").select.tie_break == "reference"
    assert load_build_config(command="select").select.tie_break == "exact"
