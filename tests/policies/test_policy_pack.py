import re
import shutil
from pathlib import Path

import pytest

from star1.policies import (
    ACTIONS,
    CATEGORY_NAMES,
    OTHER,
    PolicyPack,
    UnknownCategory,
    load_policy_pack,
)


@pytest.fixture(scope="module")
def pack() -> PolicyPack:
    return load_policy_pack()


@pytest.fixture
def pack_copy(pack, tmp_path) -> Path:
    target = tmp_path / "pack"
    shutil.copytree(pack.path, target)
    return target


def test_default_pack_has_the_eight_star1_categories_and_other(pack):
    assert pack.name == "star1-default"
    assert pack.version == "1.0"
    assert pack.names == CATEGORY_NAMES + (OTHER,)
    assert len(CATEGORY_NAMES) == 8


def test_rules_are_numbered_from_one_without_gaps(pack):
    for policy in pack.policies:
        numbers = [r.number for r in policy.rules]
        assert numbers == list(range(1, len(numbers) + 1)), policy.name
        assert 8 <= len(policy.rules) <= 12, policy.name
        assert all(r.action in ACTIONS and r.text for r in policy.rules)


@pytest.mark.parametrize("name", CATEGORY_NAMES)
def test_every_harm_category_says_when_to_refuse_safe_complete_and_comply(pack, name):
    actions = {r.action for r in pack.get(name).rules}
    assert actions == set(ACTIONS)


def test_other_helps_and_never_refuses(pack):
    # A request that deserves a refusal belongs to one of the eight categories, so Other
    # only has rules for full help and for careful (safe-complete) help.
    actions = [r.action for r in pack.get(OTHER).rules]
    assert "refuse" not in actions
    assert {"comply", "safe_complete"} <= set(actions)


def test_categories_are_distinct(pack):
    slugs = [p.slug for p in pack.policies]
    assert len(set(slugs)) == len(slugs)
    texts = [r.text for p in pack.policies for r in p.rules]
    assert len(set(texts)) == len(texts)
    definitions = [p.definition for p in pack.policies]
    assert len(set(definitions)) == len(definitions)


def test_render_cites_rules_in_the_teacher_form(pack):
    text = pack.get("Self-Harm").render()
    assert text.splitlines()[0] == "## Self-Harm"
    assert "Definition: " in text and "Objective: " in text
    rule3 = pack.get("Self-Harm").rule(3)
    assert f"Self-Harm rule 3 [{rule3.action}]: {rule3.text}" in text.splitlines()
    assert pack.get("Self-Harm").citation(3) == "Self-Harm rule 3"
    cited = re.findall(r"^Self-Harm rule \d+ \[", text, re.M)
    assert len(cited) == len(pack.get("Self-Harm").rules)


def test_pack_render_keeps_pack_order_and_skips_duplicates(pack):
    text = pack.render(["Intellectual Property", "Self-Harm", "Self-Harm"])
    blocks = text.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == ["## Self-Harm", "## Intellectual Property"]
    assert pack.render([]) == ""


def test_unknown_category_error_lists_the_names(pack):
    with pytest.raises(KeyError) as err:
        pack.get("Weapons")
    message = str(err.value)
    assert isinstance(err.value, UnknownCategory)
    assert "'Weapons'" in message and all(n in message for n in pack.names)
    with pytest.raises(UnknownCategory, match="did you mean 'Self-Harm'"):
        pack.render(["self harm"])
    with pytest.raises(UnknownCategory, match="no rule 40"):
        pack.get("Self-Harm").rule(40)


def test_definitions_are_one_line_per_category_with_the_whole_definition(pack):
    lines = pack.definitions().splitlines()
    assert len(lines) == len(pack.names)
    for line, policy in zip(lines, pack.policies):
        assert line == f"- {policy.name}: {policy.definition}"
        assert policy.definition.count(". ") >= 1  # more than the first sentence is shown


def test_every_name_slug_and_alias_maps_back_to_its_category(pack):
    for policy in pack.policies:
        for label in (policy.name, policy.slug, *policy.aliases):
            assert pack.normalise(label) == policy.name, label


def test_hash_is_full_sha256_and_independent_of_location(pack, pack_copy):
    assert re.fullmatch(r"[0-9a-f]{64}", pack.hash)
    assert pack.short_hash == pack.hash[:16]
    copy = load_policy_pack(pack_copy)
    assert copy.hash == pack.hash
    assert copy.path == str(pack_copy)
    assert load_policy_pack(pack_copy / "pack.yaml").hash == pack.hash


@pytest.mark.parametrize("file", ["self_harm.yaml", "pack.yaml"])
def test_any_edit_changes_the_hash(pack, pack_copy, file):
    path = pack_copy / file
    path.write_text(path.read_text() + "# a comment-only edit\n")
    assert load_policy_pack(pack_copy).hash != pack.hash


def test_renaming_a_category_file_changes_the_hash(pack, pack_copy):
    (pack_copy / "other.yaml").rename(pack_copy / "misc.yaml")
    pack_file = pack_copy / "pack.yaml"
    pack_file.write_text(pack_file.read_text().replace("other.yaml", "misc.yaml"))
    edited = load_policy_pack(pack_copy)
    assert edited.names == pack.names and edited.hash != pack.hash


def test_default_pack_is_loaded_once():
    assert load_policy_pack() is load_policy_pack()


def test_a_user_pack_may_define_its_own_categories(tmp_path):
    (tmp_path / "pack.yaml").write_text(
        "name: tiny\nversion: 2\ncategories: [spam.yaml]\n")
    (tmp_path / "spam.yaml").write_text(
        "name: Spam\nslug: spam\ndefinition: Unsolicited bulk messages. Nothing else.\n"
        "objective: Do not help send spam.\naliases: [Junk Mail]\n"
        "rules:\n  - {number: 1, action: refuse, text: Do not write spam campaigns.}\n")
    tiny = load_policy_pack(tmp_path)
    assert tiny.names == ("Spam",) and tiny.version == "2"
    assert tiny.normalise("junk_mail") == "Spam"
    assert tiny.normalise("Other") is None
    assert tiny.definitions() == "- Spam: Unsolicited bulk messages. Nothing else."
    assert "Spam rule 1 [refuse]: Do not write spam campaigns." in tiny.render(["Spam"])
