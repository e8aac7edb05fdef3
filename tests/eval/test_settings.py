"""Generation protocols and the YAML/CLI settings model."""

from __future__ import annotations

import pytest

from star1.errors import ConfigError
from star1.eval.settings import Protocol, load_config


@pytest.mark.parametrize("name", ["star1", "paper"])
def test_star1_and_paper_protocols_decode_as_the_paper(name):
    protocol = Protocol.named(name)
    params = protocol.sampling(8000, 0)
    assert (params.temperature, params.repetition_penalty, params.max_tokens, params.seed) == (0.0, 1.2, 8000, None)


def test_default_protocol_judges_strictly_and_paper_as_the_reference():
    default = load_config(None, {"out": "o"})
    assert default.protocol == "star1" and default.generation_protocol().judging == "strict"
    assert default.retries() == 2
    paper = load_config(None, {"out": "o", "protocol": "paper"})
    assert paper.generation_protocol().reference and paper.retries() == 0  # the reference never re-asks
    assert load_config(None, {"out": "o", "protocol": "paper", "judge_retries": 3}).retries() == 3
    assert not Protocol.named("r1").reference


def test_r1_protocol_gives_each_sample_its_own_seed():
    protocol = Protocol.named("r1", samples=3)
    seeds = [protocol.sampling(100, k).seed for k in range(3)]
    assert seeds == [0, 1, 2] and protocol.temperature == 0.6 and protocol.top_p == 0.95
    assert Protocol.named("r1").samples == 4


@pytest.mark.parametrize("name", ["star1", "paper"])
def test_greedy_protocols_reject_samples(name):
    with pytest.raises(ConfigError, match="--protocol r1"):
        Protocol.named(name, samples=2)


def test_yaml_config_with_cli_overrides(tmp_path):
    path = tmp_path / "eval.yaml"
    path.write_text("model: bundled\nbenchmarks: [xstest]\nout: a\nlimit: 5\n")
    config = load_config(path, {"out": "b", "limit": None})
    assert (config.model, config.benchmarks, config.out, config.limit) == ("bundled", ["xstest"], "b", 5)
    path.write_text("out: a\nlimt: 5\n")
    with pytest.raises(ConfigError, match="limt"):
        load_config(path, {})
    with pytest.raises(ConfigError, match="limit"):
        load_config(None, {"out": "a", "limit": 0})
