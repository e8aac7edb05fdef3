"""normalise() on the category labels of the real datasets, and on model-style output."""

import csv
import json
import re

import pytest

from star1.policies import load_policy_pack

HATE = "Harassment / Hate / Discrimination"
SEX = "Sexual / Adult"
VIOLENCE = "Violence / Physical Harm"
SELF_HARM = "Self-Harm"
ILLICIT = "Illicit / Criminal Behavior"
MISINFO = "Misinformation / Disinformation"
PRIVACY = "Privacy / Personal Data"
IP = "Intellectual Property"


@pytest.fixture(scope="module")
def pack():
    return load_policy_pack()


def csv_labels(path, column):
    with open(path, newline="", encoding="utf-8") as fh:
        return {row[column] for row in csv.DictReader(fh) if row[column]}


def check(pack, labels, expected):
    # Every label the dataset uses is covered here, so a new label shows up as a failure.
    assert set(labels) == set(expected)
    got = {label: pack.normalise(label) for label in labels}
    assert got == expected


def test_strongreject(pack, shared_data):
    check(pack, csv_labels(shared_data / "strongreject/strongreject_dataset.csv", "category"), {
        "Disinformation and deception": MISINFO,
        "Hate, harassment and discrimination": HATE,
        "Illegal goods and services": ILLICIT,
        "Non-violent crimes": ILLICIT,  # not Violence: the negation is part of the word
        "Sexual content": SEX,
        "Violence": VIOLENCE,
    })


def test_jailbreakbench(pack, shared_data):
    check(pack, csv_labels(shared_data / "jbb_behaviors/harmful-behaviors.csv", "category"), {
        "Disinformation": MISINFO,
        "Economic harm": None,
        "Expert advice": None,
        "Fraud/Deception": ILLICIT,
        "Government decision-making": None,
        "Harassment/Discrimination": HATE,
        "Malware/Hacking": ILLICIT,
        "Physical harm": VIOLENCE,
        "Privacy": PRIVACY,
        "Sexual/Adult content": SEX,
    })


def test_harmbench(pack, shared_data):
    path = shared_data / "harmbench/harmbench_behaviors_text_all.csv"
    check(pack, csv_labels(path, "SemanticCategory"), {
        "chemical_biological": VIOLENCE,
        "copyright": IP,
        "cybercrime_intrusion": ILLICIT,
        "harassment_bullying": HATE,
        "harmful": None,
        "illegal": ILLICIT,
        "misinformation_disinformation": MISINFO,
    })


def test_sg_bench(pack, shared_data):
    rows = json.loads((shared_data / "sg_bench/malicious_instruction.json").read_text())
    # safety_type is free text ending in the bracketed label; the sentence itself is no label.
    assert pack.normalise(rows[0]["safety_type"]) is None
    bracketed = {"[" + re.findall(r"\[(O\d+: [^\]]+)\]", r["safety_type"])[-1] + "]" for r in rows}
    check(pack, bracketed, {
        "[O1: Toxic content]": HATE,
        "[O2: Stereotyping & Bias]": HATE,
        "[O3: Misinformation]": MISINFO,
        "[O4: Privacy leak & Privacy infringement]": PRIVACY,
        "[O5: Dissemination of dangerous information]": None,
        "[O6: Malicious Use]": ILLICIT,
    })
    assert pack.normalise("Category id: [O6: Malicious Use]") == ILLICIT
    third = {r["3-category"] for r in rows if r.get("3-category")}
    got = {label: pack.normalise(label) for label in third}
    assert got["O23: Radicalization"] is None
    assert got["O33: Inferring Personal Information"] == PRIVACY
    assert got["O21: Historical Revisionism"] == MISINFO
    assert {got[k] for k in third if "Stereotyping" in k} == {HATE}


def test_alert(pack, shared_data):
    with open(shared_data / "alert/alert.jsonl", encoding="utf-8") as fh:
        labels = {json.loads(line)["category"] for line in fh}
    got = {label: pack.normalise(label) for label in labels}
    families = {"hate_": HATE, "weapon_": VIOLENCE, "self_harm_": SELF_HARM,
                "substance_": ILLICIT}
    for prefix, category in families.items():
        assert {got[k] for k in labels if k.startswith(prefix)} == {category}, prefix
    assert got["crime_theft"] == got["crime_cyber"] == got["crime_tax"] == ILLICIT
    assert got["crime_injury"] == got["crime_kidnap"] == VIOLENCE
    assert got["crime_privacy"] == PRIVACY
    assert got["crime_propaganda"] == MISINFO
    assert got["sex_porn"] == got["sex_other"] == SEX
    assert got["sex_harassment"] is None  # "sex" and "harassment" disagree: ambiguous


def test_star1_release_labels_are_already_canonical(pack, shared_data):
    rows = json.loads((shared_data / "star1/STAR-1.json").read_text())
    labels = {c for r in rows for c in r["category"]}
    assert labels == set(pack.names) - {"Other"}
    assert all(pack.normalise(label) == label for label in labels)


@pytest.mark.parametrize("label,expected", [
    ("self-harm", SELF_HARM), ("SELF_HARM", SELF_HARM), ("Self harm / suicide", SELF_HARM),
    ("illicit/criminal behaviour", ILLICIT), ("Criminal Behavior", ILLICIT),
    ("harassment_hate_discrimination", HATE), ("Harassment", HATE),
    ("  privacy  ", PRIVACY), ("sexual/minors", SEX), ("self-harm/intent", SELF_HARM),
    ("S1: Violent Crimes", VIOLENCE), ("S2: Non-Violent Crimes", ILLICIT),
    ("Copyright violation", IP), ("Other", "Other"), ("none", "Other"),
])
def test_model_style_labels(pack, label, expected):
    assert pack.normalise(label) == expected


@pytest.mark.parametrize("label", [
    "", "   ", "banana", "harm", "unsafe", "N/A", "1", "misc harms of kinds unknown to us",
    "Hate/Violence",  # two categories: ambiguous, not a guess
    "Other/Violence", "hate_other x y z a b c d",  # long labels only match whole
    "ip",  # too short to be safe as an alias ("IP address")
])
def test_unknown_or_ambiguous_labels_are_none(pack, label):
    assert pack.normalise(label) is None


def test_non_text_labels_are_none(pack):
    assert pack.normalise(None) is None
    assert pack.normalise(3) is None


def test_other_is_never_reached_through_a_word_inside_a_label(pack):
    assert pack.normalise("hate_other") == HATE
    assert pack.normalise("other stuff") is None
