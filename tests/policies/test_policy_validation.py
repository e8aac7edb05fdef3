import shutil
from pathlib import Path

import pytest
import yaml

from star1.errors import UserError
from star1.io import InputError
from star1.policies import load_policy_pack


@pytest.fixture
def pack_dir(tmp_path) -> Path:
    target = tmp_path / "pack"
    shutil.copytree(load_policy_pack().path, target)
    return target


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def load_error(pack_dir: Path) -> InputError:
    with pytest.raises(InputError) as err:
        load_policy_pack(pack_dir)
    assert isinstance(err.value, UserError)
    return err.value


def test_missing_rules(pack_dir):
    edit(pack_dir / "self_harm.yaml", lambda d: d.pop("rules"))
    err = load_error(pack_dir)
    assert err.path.endswith("self_harm.yaml") and err.field == "rules"
    assert "missing" in str(err)


def test_rules_must_be_numbered_consecutively(pack_dir):
    edit(pack_dir / "sexual_adult.yaml", lambda d: d["rules"][2].update(number=4))
    err = load_error(pack_dir)
    assert err.path.endswith("sexual_adult.yaml") and err.field == "rules[2].number"
    assert "numbered 1..11" in str(err)


def test_unknown_action(pack_dir):
    edit(pack_dir / "privacy_personal_data.yaml", lambda d: d["rules"][0].update(action="ignore"))
    err = load_error(pack_dir)
    assert err.path.endswith("privacy_personal_data.yaml") and err.field == "rules[0].action"
    assert "refuse" in str(err)


def test_rule_number_must_be_an_integer(pack_dir):
    edit(pack_dir / "other.yaml", lambda d: d["rules"][0].update(number=True))
    assert load_error(pack_dir).field == "rules[0].number"


def test_unknown_field_is_rejected(pack_dir):
    edit(pack_dir / "intellectual_property.yaml", lambda d: d.update(severity="high"))
    err = load_error(pack_dir)
    assert err.field == "severity" and "allowed: name, slug" in str(err)


def test_empty_definition(pack_dir):
    edit(pack_dir / "self_harm.yaml", lambda d: d.update(definition="   "))
    assert load_error(pack_dir).field == "definition"


def test_duplicate_category_names(pack_dir):
    edit(pack_dir / "other.yaml", lambda d: d.update(name="Self-Harm", slug="other2"))
    err = load_error(pack_dir)
    assert err.path.endswith("other.yaml") and err.field == "name"
    assert "self_harm.yaml" in str(err)


def test_duplicate_slugs(pack_dir):
    edit(pack_dir / "other.yaml", lambda d: d.update(slug="self_harm"))
    err = load_error(pack_dir)
    assert err.path.endswith("other.yaml") and err.field == "slug"


def test_alias_claimed_by_two_categories(pack_dir):
    edit(pack_dir / "other.yaml", lambda d: d["aliases"].append("Suicide"))
    err = load_error(pack_dir)
    assert err.path.endswith("other.yaml") and err.field == "aliases"
    assert "'suicide' already names category 'Self-Harm'" in str(err)


def test_listed_category_file_must_exist(pack_dir):
    (pack_dir / "self_harm.yaml").unlink()
    err = load_error(pack_dir)
    assert err.path.endswith("pack.yaml") and err.field == "categories[3]"
    assert "self_harm.yaml" in str(err)


def test_category_files_stay_inside_the_pack(pack_dir):
    edit(pack_dir / "pack.yaml", lambda d: d["categories"].append("../elsewhere.yaml"))
    assert load_error(pack_dir).field == "categories[9]"


def test_a_file_listed_twice(pack_dir):
    edit(pack_dir / "pack.yaml", lambda d: d["categories"].append("other.yaml"))
    assert "listed twice" in str(load_error(pack_dir))


def test_pack_needs_a_category(pack_dir):
    edit(pack_dir / "pack.yaml", lambda d: d.update(categories=[]))
    err = load_error(pack_dir)
    assert err.path.endswith("pack.yaml") and err.field == "categories"


def test_invalid_yaml_names_the_line(pack_dir):
    path = pack_dir / "violence_physical_harm.yaml"
    lines = path.read_text().splitlines()
    lines[1] = "slug: [unclosed"
    path.write_text("\n".join(lines))
    err = load_error(pack_dir)
    assert err.path.endswith("violence_physical_harm.yaml") and err.line is not None
    assert "invalid YAML" in str(err)


def test_a_file_that_is_not_a_mapping(pack_dir):
    (pack_dir / "other.yaml").write_text("- just\n- a list\n")
    assert "expected a YAML mapping" in str(load_error(pack_dir))


def test_missing_folder_and_missing_pack_file(tmp_path):
    err = load_error(tmp_path / "nope")
    assert "not found" in str(err)
    err = load_error(tmp_path)
    assert err.path.endswith("pack.yaml") and "missing" in str(err)


def test_a_name_that_reads_like_another_categorys_alias(pack_dir):
    edit(pack_dir / "other.yaml", lambda d: d.update(name="Fraud"))
    err = load_error(pack_dir)
    assert err.path.endswith("other.yaml") and err.field == "name"
    assert "Illicit / Criminal Behavior" in str(err)
