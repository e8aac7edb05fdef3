import re
from collections import Counter

from star1.data import demo_prompts_path
from star1.policies import CATEGORY_NAMES, load_policy_pack
from star1.records import read_records


def test_demo_prompts_load_as_records_three_per_category():
    records = read_records(demo_prompts_path())
    assert len(records) == 24
    assert Counter(r.source_category for r in records) == {name: 3 for name in CATEGORY_NAMES}
    assert {r.source for r in records} == {"star1-demo"}
    pack = load_policy_pack()
    for record in records:
        slug = pack.get(record.source_category).slug
        assert re.fullmatch(rf"demo-{slug}-[123]", record.id), record.id
        assert pack.normalise(record.source_category) == record.source_category
        assert record.response is None and record.category is None


def test_demo_prompts_hold_no_operational_specifics():
    # No quantities, links, contact details or code: harmful intent, nothing usable.
    for record in read_records(demo_prompts_path()):
        assert not re.search(r"\d|https?:|www\.|@|`|\{|\}", record.question), record.id
        assert 40 <= len(record.question) <= 200
