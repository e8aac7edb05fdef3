"""Generation protocols and the settings of ``star1 eval`` (EvalConfig, loaded by star1.settings)."""

from __future__ import annotations

import pytest

from star1.engines.config import parse_engine
from star1.errors import ConfigError
from star1.eval.settings import EvalConfig, JudgeCheckSettings, Protocol
from star1.settings import load_settings


def _config(**values) -> EvalConfig:
    return load_settings(EvalConfig, values={"out": "o", **values})


@pytest.mark.parametrize("name", ["star1", "paper"])
def test_star1_and_paper_protocols_decode_as_the_paper(name):
    protocol = Protocol.named(name)
    params = protocol.sampling(8000, 0)
    assert (params.temperature, params.repetition_penalty, params.max_tokens, params.seed) == (0.0, 1.2, 8000, None)


def test_default_protocol_judges_strictly_and_paper_as_the_reference():
    default = _config()
    assert default.protocol == "star1" and default.generation_protocol().judging == "strict"
    assert default.retries() == 2
    paper = _config(protocol="paper")
    assert paper.generation_protocol().reference and paper.retries() == 0  # the reference never re-asks
    assert _config(protocol="paper", judge_retries=3).retries() == 3
    assert not Protocol.named("r1").reference
    assert JudgeCheckSettings(protocol="paper").retries() == 0
    assert JudgeCheckSettings().retries() == 2


def test_r1_protocol_gives_each_sample_its_own_seed():
    protocol = Protocol.named("r1", samples=3)
    seeds = [protocol.sampling(100, k).seed for k in range(3)]
    assert seeds == [0, 1, 2] and protocol.temperature == 0.6 and protocol.top_p == 0.95
    assert Protocol.named("r1").samples == 4


@pytest.mark.parametrize("name", ["star1", "paper"])
def test_greedy_protocols_reject_samples(name):
    with pytest.raises(ConfigError, match="--protocol r1"):
        Protocol.named(name, samples=2)


def test_yaml_config_flags_and_set(tmp_path):
    """Precedence file < flags < --set; an unknown or invalid setting names its origin."""
    path = tmp_path / "eval.yaml"
    path.write_text("model: bundled\nbenchmarks: [xstest]\nout: a\nlimit: 5\nsafety_judge: {kind: bundled}\n")
    config = load_settings(EvalConfig, path, ["limit=7"], values={"out": "b", "limit": 6})
    assert (config.benchmarks, config.out, config.limit) == (["xstest"], "b", 7)
    assert config.model == config.safety_judge == parse_engine("bundled")
    assert load_settings(EvalConfig, values={"benchmarks": "strongreject, xstest"}).benchmarks == [
        "strongreject", "xstest"]
    path.write_text("out: a\nlimt: 5\n")
    with pytest.raises(ConfigError, match=r"eval\.yaml: setting 'limt': unknown setting"):
        load_settings(EvalConfig, path)
    with pytest.raises(ConfigError, match="--set limit"):
        load_settings(EvalConfig, None, ["limit=0"])


@pytest.mark.parametrize("spec", ["keyword", " keyword "])
def test_keyword_stays_a_judge_value(spec):
    assert _config(safety_judge=spec, refusal_judge=spec).safety_judge == "keyword"


@pytest.mark.parametrize("field", ["model", "safety_judge", "refusal_judge"])
def test_an_invalid_engine_is_refused_with_the_valid_forms(field):
    with pytest.raises(ConfigError) as caught:
        load_settings(EvalConfig, None, [f"{field}=gpt-4"])
    message = str(caught.value)
    assert f"--set {field}" in message and "invalid engine 'gpt-4'" in message and "bundled" in message
