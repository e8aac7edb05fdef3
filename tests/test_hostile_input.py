"""Issue 21, class 11: hostile input. Each attack runs through the ``star1`` command and must end
in one line naming the file (and the line where there is one), exit 2, no traceback, nothing
written: 20,000-deep YAML in ``--config``, ``--set``, an inline engine mapping and a policy pack;
a YAML key given twice; 20,000-deep JSON for collect; a ``.jsonl.gz`` bomb; inputs linked to
``/dev/zero``; a CSV field far past any prompt's length."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from star1 import bounded
from star1.cli import main

DEEP_YAML = "[" * 20000 + "]" * 20000
DEEP_JSON = "[" * 20000 + "]" * 20000
STUB = "openai:stub@http://127.0.0.1:9/v1"


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps({"id": "p1", "question": "q"}) + "\n")
    return path


def _refused(capsys, command: str, *args) -> str:
    out = args[args.index("--out") + 1] if "--out" in args else None
    assert main([command, *map(str, args)]) == 2
    err = capsys.readouterr().err
    [line] = err.strip().splitlines()  # one line, no traceback
    assert line.startswith(f"star1 {command}: error: "), line
    assert "Traceback" not in err and "RecursionError" not in line and "MemoryError" not in line
    if out is not None:
        assert not Path(out).exists()
    return line


def _classify(capsys, prompts, *args) -> str:
    return _refused(capsys, "classify", "--in", prompts, "--out", prompts.parent / "out.jsonl",
                    "--classifier", STUB, *args)


def test_deep_yaml_config(tmp_path, prompts, capsys):
    config = tmp_path / "deep.yaml"
    config.write_text("limit: " + DEEP_YAML + "\n")
    line = _classify(capsys, prompts, "--config", config)
    assert f"{config}, line 1: invalid YAML (nested more than 100 levels deep)" in line


def test_a_yaml_key_given_twice_is_refused_not_last_wins(tmp_path, prompts, capsys):
    config = tmp_path / "twice.yaml"
    config.write_text("cache: a.sqlite\nprotocol: star1\ncache: b.sqlite\n")
    line = _classify(capsys, prompts, "--config", config)
    assert f"{config}, line 3: invalid YAML (key 'cache' is given twice in one mapping; keep one)" in line


def test_yaml_aliases_cannot_multiply_a_document(tmp_path, prompts, capsys):
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    laughs += [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
    config = tmp_path / "laughs.yaml"
    config.write_text("\n".join(laughs) + "\n")
    line = _classify(capsys, prompts, "--config", config)
    assert f"{config}, line 2: invalid YAML (YAML aliases" in line


def test_deep_yaml_in_set(prompts, capsys):
    line = _classify(capsys, prompts, "--set", "limit=" + DEEP_YAML)
    assert "the value is not valid YAML (nested more than 100 levels deep)" in line


def test_deep_yaml_in_an_inline_engine_mapping(prompts, capsys):
    line = _refused(capsys, "classify", "--in", prompts, "--out", prompts.parent / "out.jsonl",
                    "--classifier", "{kind: bundled, extra: " + DEEP_YAML + "}")
    assert "not a valid YAML mapping" in line


def test_deep_yaml_in_a_policy_pack(tmp_path, prompts, capsys):
    from star1.policies import loader

    pack = tmp_path / "pack"
    shutil.copytree(Path(loader.__file__).with_name("default"), pack)
    (pack / "pack.yaml").write_text((pack / "pack.yaml").read_text() + "extra: " + DEEP_YAML + "\n")
    line = _classify(capsys, prompts, "--set", f"policies={pack}")
    assert f"{pack}/pack.yaml" in line and "nested more than 100 levels deep" in line, line


def test_deep_json_for_collect(tmp_path, capsys):
    source = tmp_path / "deep.json"
    source.write_text(DEEP_JSON)
    line = _refused(capsys, "collect", "--in", source, "--out", tmp_path / "p.jsonl", "--no-decontaminate",
                    "--set", "skip_embedding=true")
    assert f"{source}: JSON nested too deep" in line


def test_deep_json_records(tmp_path, capsys):
    records = tmp_path / "deep.jsonl"
    records.write_text(json.dumps({"id": "p1", "question": "q"}) + "\n" + '{"x": ' + DEEP_JSON + "}\n")
    line = _classify(capsys, records)
    assert f"{records}, line 2: JSON nested too deep" in line


def test_a_jsonl_gz_bomb_stops_at_the_line_bound(tmp_path, capsys):
    bomb = tmp_path / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:  # 200 MB of one line, in 200 KB on disk
        chunk = b"0" * (1 << 20)
        for _ in range(200):
            fh.write(chunk)
    assert bomb.stat().st_size < 1 << 20
    line = _classify(capsys, bomb)
    assert f"{bomb}, line 1: a line longer than 64 MiB" in line


def test_a_jsonl_gz_bomb_of_short_lines_stops_at_the_total_bound(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bounded, "MAX_INPUT_BYTES", 1 << 20)  # the 1 GiB cap, scaled down for the test
    bomb = tmp_path / "bomb.jsonl.gz"
    bomb.write_bytes(gzip.compress(b'{"id": "p", "question": "q"}\n' * 100_000))
    line = _classify(capsys, bomb)
    assert f"{bomb}: holds more than 1 MiB once decompressed" in line


@pytest.mark.parametrize("command", ["classify", "collect", "eval"])
def test_inputs_linked_to_dev_zero(tmp_path, capsys, command):
    name = {"classify": "zero.jsonl", "collect": "zero.csv", "eval": "zero.jsonl"}[command]
    zero = tmp_path / name
    zero.symlink_to("/dev/zero")
    out = tmp_path / ("out" if command == "eval" else "out.jsonl")
    extra = {"classify": ["--classifier", STUB], "collect": ["--no-decontaminate"], "eval": []}[command]
    line = _refused(capsys, command, "--in", zero, "--out", out, *extra)
    assert f"{zero}: is not a regular file" in line


def test_a_config_linked_to_dev_zero(tmp_path, prompts, capsys):
    config = tmp_path / "zero.yaml"
    config.symlink_to("/dev/zero")
    line = _classify(capsys, prompts, "--config", config)
    assert str(config) in line


def test_a_huge_csv_field(tmp_path, capsys):
    source = tmp_path / "big.csv"
    with open(source, "w") as fh:  # a 64 MiB field on line 3: 4x the bound, the same failure as 200 MB
        fh.write("text\nfine prompt\n\"")
        chunk = "A" * (1 << 20)
        for _ in range(64):
            fh.write(chunk)
        fh.write("\"\n")
    line = _refused(capsys, "collect", "--in", source, "--out", tmp_path / "p.jsonl", "--no-decontaminate",
                    "--set", "skip_embedding=true")
    assert f"{source}, line 3: a field longer than 16 Mi characters" in line
