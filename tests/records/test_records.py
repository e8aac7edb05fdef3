import json
import subprocess
import sys

import pytest

from star1.io import InputError
from star1.reasoning import split_reasoning
from star1.records import join_response, prompt_id, read_records, write_records


def test_released_star1_file_round_trips_byte_for_byte(shared_data, tmp_path):
    source = shared_data / "star1" / "STAR-1.json"
    records = read_records(source)
    assert len(records) == 1000
    assert all(r.reasoning and r.answer for r in records)
    write_records(tmp_path / "copy.json", records)
    assert (tmp_path / "copy.json").read_bytes() == source.read_bytes()


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_other_formats_round_trip(shared_data, tmp_path, suffix):
    records = read_records(shared_data / "star1" / "STAR-1.json")[:50]
    write_records(tmp_path / f"x{suffix}", records)
    assert read_records(tmp_path / f"x{suffix}") == records


def test_response_layout():
    response = join_response("  step one\nstep two ", " Final answer. ")
    assert response == "<think>\nstep one\nstep two\n</think>\n\nFinal answer."
    assert split_reasoning(response) == ("step one\nstep two", "Final answer.")
    assert split_reasoning("no think block") == (None, "no think block")
    assert split_reasoning("opened by the template\n</think>\n\nanswer") == ("opened by the template", "answer")


def test_ids_are_stable_hashes_of_normalised_text(tmp_path):
    assert prompt_id("How  do I\nbake Bread?") == prompt_id("how do i bake bread?")
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "How do I bake bread?"}) + "\n" + json.dumps({"question": "x", "id": 7}) + "\n")
    first, second = read_records(path)
    assert first.question == "How do I bake bread?" and first.id == prompt_id("how do i bake bread?")
    assert second.id == "7"


@pytest.mark.parametrize("content, message", [
    ('{"question": "ok"}\n{"question": "broken"\n', "line 2: invalid JSON"),
    ('{"question": "ok"}\n\n{"id": "x", "text2": "no question"}\n', "line 3, field 'question': missing"),
    ('{"question": "ok", "score": {"Content_Safety_Compliance": "high"}}\n', "line 1, field 'score.Content_Safety_Compliance'"),
    ('{"question": "   "}\n', "line 1, field 'question': is empty"),
    ('{"id": "a", "question": "x"}\n{"id": "a", "question": "y"}\n', "line 2, field 'id': duplicate id 'a' (first on line 1)"),
    ('[1, 2]\n', "line 1: expected a JSON object"),
    ('', "holds no records"),
])
def test_bad_input_names_file_line_and_field(tmp_path, content, message):
    path = tmp_path / "in.jsonl"
    path.write_text(content)
    with pytest.raises(InputError) as info:
        read_records(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_cli_bad_input_is_one_clear_line_and_keeps_existing_output(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "fine"}\n{"question": 5}\n')
    out = tmp_path / "out.jsonl"
    out.write_text("keep me\n")
    result = subprocess.run([sys.executable, "-m", "star1.cli", "classify", "--in", str(bad), "--out", str(out),
                             "--classifier", "bundled"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"star1 classify: error: {bad}, line 2, field 'question': Input should be a valid string"]
    assert out.read_text() == "keep me\n"


def test_cli_bad_engine_lists_valid_forms(tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"question": "x"}\n')
    result = subprocess.run([sys.executable, "-m", "star1.cli", "classify", "--in", str(prompts), "--out",
                             str(tmp_path / "o.jsonl"), "--classifier", "gpt4"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "invalid engine 'gpt4'" in result.stderr
    for form in ("bundled", "transformers:<path-or-hub-id>", "openai:<model>@<base_url>"):
        assert form in result.stderr


def test_score_command_requires_responses(tmp_path):
    path = tmp_path / "classified.jsonl"
    path.write_text(json.dumps({"id": "a", "question": "x", "category": ["Self-Harm"]}) + "\n")
    result = subprocess.run([sys.executable, "-m", "star1.cli", "score", "--in", str(path), "--out",
                             str(tmp_path / "o.jsonl"), "--judge", "bundled"], capture_output=True, text=True)
    assert result.returncode == 2 and "line 1, field 'response': missing" in result.stderr
