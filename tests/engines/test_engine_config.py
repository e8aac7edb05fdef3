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
