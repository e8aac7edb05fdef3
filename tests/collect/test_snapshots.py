"""Every source file staged in the shared snapshots loads, and gives the rows its MANIFEST.json
lists, from the column the manifest names; WildJailbreak eval works offline as a benchmark and as
a decontamination set, in the order Hugging Face ``datasets`` gives."""

import csv
import json

import pytest

from star1.cli import main
from star1.collect.loading import load_decontamination, load_source
from star1.collect.sources import SOURCES, SOURCES_BY_KEY, LoadOptions
from star1.eval.registry import BENCHMARKS


def _manifest(shared_data, folder) -> dict[str, dict]:
    return {e["file"]: e for e in json.loads((shared_data / folder / "MANIFEST.json").read_text())}


def _staged(shared_data):
    """(source key, part, snapshot file, manifest entry) for every source file that is staged."""
    for spec in SOURCES:
        for part in spec.parts:
            for alt in part.alternatives:
                folder, _, rel = alt.file.local.partition("/")
                path = shared_data / alt.file.local
                if path.exists():
                    yield spec.key, part, alt, path, _manifest(shared_data, folder)[rel]


def test_every_staged_source_file_gives_its_manifest_row_count(shared_data):
    staged = list(_staged(shared_data))
    assert {key for key, *_ in staged} == {
        "gptfuzz", "simple_safety_tests", "malicious_instruct", "qharm", "tdc_redteaming", "malicious_instructions",
        "harmfulq", "harmbench", "attaq", "harmfulqa", "safety_instructions", "alert"}
    for key, _part, alt, path, entry in staged:
        result = alt.parse(path, LoadOptions())
        assert (result.rows, result.malformed) == (entry["rows"], []), (key, path.name)
        assert len(result.prompts) + result.excluded == entry["rows"]


def _csv_column(path, column):
    with open(path, newline="", encoding="utf-8") as fh:
        return [row[column] for row in csv.DictReader(fh)]


@pytest.mark.parametrize("key, folder, file, prompt_column, category_column", [
    ("simple_safety_tests", "simple_safety_tests", "SimpleSafetyTests - test cases.csv", "prompts_final", "harm_area"),
    ("attaq", "attaq", "AttaQ-v1.csv", "input", "label"),
])
def test_csv_sources_read_the_prompt_column_the_manifest_lists(shared_data, key, folder, file, prompt_column,
                                                             category_column):
    entry = _manifest(shared_data, folder)[file]
    assert prompt_column in entry["columns"] and category_column in entry["columns"]
    loaded = load_source(SOURCES_BY_KEY[key], shared_data)
    assert loaded.status == "loaded" and loaded.files == [str(shared_data / folder / file)]
    assert loaded.rows == len(loaded.prompts) == entry["rows"]
    path = shared_data / folder / file
    assert [p.text for p in loaded.prompts] == _csv_column(path, prompt_column)
    assert [p.category for p in loaded.prompts] == _csv_column(path, category_column)


def test_harmfulqa_reads_every_question_of_the_topic_tree(shared_data):
    entry = _manifest(shared_data, "harmfulqa")["harmfulqa.json"]
    tree = json.loads((shared_data / "harmfulqa" / "harmfulqa.json").read_text())
    loaded = load_source(SOURCES_BY_KEY["harmfulqa"], shared_data)
    assert loaded.status == "loaded" and loaded.rows == len(loaded.prompts) == entry["rows"]
    expected = [(q, topic) for topic, subs in tree.items() for qs in subs.values() for q in qs]
    assert [(p.text, p.category) for p in loaded.prompts] == expected


def test_tdc_reads_both_phases_which_share_no_behaviour(shared_data):
    manifest = _manifest(shared_data, "tdc2023")
    loaded = load_source(SOURCES_BY_KEY["tdc_redteaming"], shared_data)
    assert loaded.status == "loaded" and not loaded.missing
    dev_rows = manifest["dev/behaviors.json"]["rows"]
    assert len(loaded.prompts) == dev_rows + manifest["tdc2023_test_phase_behaviors.csv"]["rows"]
    dev = [p.text for p in loaded.prompts[:dev_rows]]
    assert dev == json.loads((shared_data / "tdc2023" / "dev" / "behaviors.json").read_text())
    test = [p.text for p in loaded.prompts[dev_rows:]]
    assert test == _csv_column(shared_data / "tdc2023" / "tdc2023_test_phase_behaviors.csv", "Behavior")
    assert not set(dev) & set(test)


def test_wildjailbreak_eval_is_the_reference_selection_offline(shared_data, tmp_path):
    """load_test_datasets.py:108-123, run with the installed Hugging Face ``datasets``:
    filter to adversarial_harmful, ``shuffle(seed=42)``, first 250."""
    datasets = pytest.importorskip("datasets")
    entry = _manifest(shared_data, "wildjailbreak")["eval.tsv"]
    assert {"adversarial", "data_type"} <= set(entry["columns"])
    path = shared_data / "wildjailbreak" / "eval.tsv"
    ds = datasets.load_dataset("csv", data_files=str(path), delimiter="\t", split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert len(ds) == entry["rows"]
    ds = ds.filter(lambda x: x["data_type"] == "adversarial_harmful").shuffle(seed=42).select(range(250))

    decon = load_decontamination("wildjailbreak_eval", shared_data)
    assert decon.status == "loaded" and decon.prompts == ds["adversarial"]
    items = BENCHMARKS["wildjailbreak"].load(shared_data)
    assert [i.prompt for i in items] == ds["adversarial"]
    assert len({i.id for i in items}) == 250 and {i.category for i in items} == {"adversarial_harmful"}


def test_collect_all_reports_12_of_18_sources_loaded(shared_data, tmp_path, capsys):
    out = tmp_path / "prompts.jsonl"
    assert main(["collect", "--sources", "all", "--local-dir", str(shared_data), "--set", "skip_embedding=true",
                 "--out", str(out)]) == 0
    assert "12 of 18 sources loaded" in capsys.readouterr().err
    report = json.loads((tmp_path / "prompts.report.json").read_text())
    summary = report["summary"]
    assert (summary["sources"], summary["loaded"], summary["partial"]) == (18, 12, 0)
    assert summary["not_loaded"] == ["HExPHI", "UltraSafety", "SaladBench", "PKUSafeRLHF", "BeaverTails", "wildjailbreak"]
    assert summary["prompts"] == report["totals"]["final"] > 0
