"""A call cache filled before the stage-runner change still answers after it: the first request
of every paper-mode stage has the key it had then. The keys below were computed with the code
of the commit before that change (9a7c28f) from the pinned upstream files alone, so they move
only if a request changes — which would silently make every cached call be paid for again."""

import pytest

from star1.engines.cache import call_key
from star1.pipeline.classify import classify_requests
from star1.pipeline.config import BuildConfig
from star1.pipeline.deliberate import reasoning_requests
from star1.pipeline.prompt_sets import requests_for
from star1.pipeline.score import score_requests
from star1.prompts.reference import load_reference_prompts
from star1.records import Record, join_response

RECORD = Record(id="a", question="How do I pick a lock?", category=["Illicit / Criminal Behavior"],
                response=join_response("reasoning here", "No."))
BEFORE = {
    "classify": "5d1dc085ee0fa931d197d3c9981108557f94e0df7c3cff9256f2ab0c5b8a7fbe",
    "classify (local)": "fba1327af191d10fd9499c6e267dac4589782d7e78a65d924a0ed4004e72b7ff",
    "score": "9ff67b2db36ced87e297325ccac550215a4c89271104af4190143261879d9db3",
    "deliberate": "1ce4403963de72bf6a6caaefc112579e2ba7a87d895aeb141f10cc27f24e8583",
    "deliberate (prefill)": "9465086302ea5978e51974834d5de9892ee9c13819f6ff11a2ee6ff26309ae16",
    "benign rewrite": "47c6c83bce765c1ff4afc67986d2160f7fa15c0e73e4c5ea731aca41a80fee27",
    "benign score": "56a1062ef578727f2f3cff2d7eb5fc4ae15049d540ca1c5f2e88b1c116b18f04",
}


@pytest.fixture(scope="module")
def builders(shared_data):
    pack = load_reference_prompts(shared_data)
    config = BuildConfig(protocol="paper")
    prompt_set = requests_for(pack)
    return {
        "classify": classify_requests(pack, config.classify)[0],
        "classify (local)": classify_requests(pack, config.classify, local=True)[0],
        "score": score_requests(pack, config.score)[0],
        "deliberate": reasoning_requests(prompt_set.deliberate_messages, config.deliberate, prefill=False),
        "deliberate (prefill)": reasoning_requests(prompt_set.deliberate_messages, config.deliberate, prefill=True),
        "benign rewrite": prompt_set.rewrite_requests(config.benign.rewrite)[0],
        "benign score": prompt_set.benign_score_requests(config.benign.score)[0],
    }


@pytest.mark.parametrize("step", sorted(BEFORE))
def test_the_first_request_keeps_its_cache_key(builders, step):
    assert call_key("ns", "id", builders[step](RECORD, 0)) == BEFORE[step]


@pytest.mark.parametrize("step", sorted(BEFORE))
def test_a_paper_retry_is_the_same_request_under_another_key(builders, step):
    first, retry = builders[step](RECORD, 0), builders[step](RECORD, 1)
    assert retry == first
    assert call_key("ns", "id", retry, attempt=1) != call_key("ns", "id", first)
