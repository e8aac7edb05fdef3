"""The one prefill-route rule (a pure function) that both a run's probing and the dry run use."""

from star1.engines.endpoints import EndpointFacts
from star1.engines.openai_engine import prefill_route


def facts(prefill=None, completions=None, url="http://a/v1"):
    return EndpointFacts(base_url=url, model="m", prefill=prefill, completions_prefill=completions)


def test_an_explicit_setting_decides():
    assert prefill_route("chat", [facts("ignored")], None) == ("chat", None)
    assert prefill_route("completions", [facts()], "tok") == ("completions", "tok")


def test_an_endpoint_not_asked_yet_needs_a_probe_unless_it_could_not_be_asked():
    assert prefill_route("auto", [facts("honoured"), facts(url="http://b/v1")], None) == (None, None)
    assert prefill_route("auto", [facts("honoured"), facts(url="http://b/v1")], None, probed=True) == ("chat", None)


def test_a_server_that_ignores_prefill_goes_through_completions_once_confirmed_for_the_tokenizer():
    assert prefill_route("auto", [facts("honoured")], None) == ("chat", None)
    assert prefill_route("auto", [facts("ignored")], "tok") == (None, "tok")  # not confirmed yet
    assert prefill_route("auto", [facts("ignored", "other")], "tok") == (None, "tok")
    assert prefill_route("auto", [facts("ignored", "tok")], "tok") == ("completions", "tok")
