"""Engine strings and inline YAML mappings, as every command takes them."""

import pytest

from star1.engines import parse_engine
from star1.errors import ConfigError


def test_inline_mapping_sets_options_a_string_cannot():
    config = parse_engine("{kind: transformers, model: /models/x, threads: 1, batch_size: 4}")
    assert (config.kind, config.model, config.threads, config.batch_size) == ("transformers", "/models/x", 1, 4)
    assert parse_engine(" {engine: bundled, threads: 2}").threads == 2


@pytest.mark.parametrize("spec, message", [
    ("{kind: bundled", "not a valid YAML mapping"),
    ("{kind: bundled, threads: zero}", "option 'threads'"),
    ("{kind: nonsense}", "option 'kind'"),
    ("gpt-4o", "Valid forms"),
])
def test_bad_engines_are_named(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_engine(spec)


@pytest.mark.parametrize("spec", [
    "{kind: openai, model: m, base_urls: [http://h/v1], api_key_env: MY_KEY}",
    "{kind: openai, model: m, base_urls: [http://h/v1], api_key_env: [MY_KEY]}",
    "openai:m@http://h/v1?api_key_env=MY_KEY",
])
def test_api_key_env_is_a_name_or_a_list_everywhere(spec):
    assert parse_engine(spec).api_key_env == ["MY_KEY"]
    assert parse_engine({"engine": "openai:m@http://a/v1,http://b/v1", "api_key_env": "A, B"}).api_key_env == ["A", "B"]
