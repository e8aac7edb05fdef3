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


@pytest.mark.parametrize("spec, setting, kind", [
    ("{kind: bundled, concurrency: 3}", "concurrency", "bundled"),
    ("openai:m@http://127.0.0.1:1/v1?batch_size=4", "batch_size", "openai"),
    ("transformers:org/name?base_urls=http://h/v1", "base_urls", "transformers"),
    ({"engine": "bundled", "api_key_env": "KEY"}, "api_key_env", "bundled"),
])
def test_a_setting_that_means_nothing_to_the_kind_is_an_error_naming_both(spec, setting, kind):
    # Each kind's settings are closed: the setting is refused, not silently ignored.
    with pytest.raises(ConfigError, match=f"'{setting}' is not a setting of {kind} engines"):
        parse_engine(spec)


def test_unknown_kinds_are_refused_not_run_with_transformers():
    for spec in ("nonsense:org/name", "{kind: nonsense, model: org/name}"):
        with pytest.raises(ConfigError, match="unknown engine kind 'nonsense'"):
            parse_engine(spec)


def test_every_registered_kind_reads_back_its_own_engine_string(tmp_path):
    from star1.engines.registry import KINDS

    examples = {"bundled": "bundled", "transformers": f"transformers:{tmp_path}",
                "openai": "openai:m@http://127.0.0.1:1/v1", "vllm": f"vllm:{tmp_path}"}
    assert {k.model_fields["kind"].default for k in KINDS} == set(examples)
    for kind, spec in examples.items():
        config = parse_engine(spec)
        assert config.kind == kind and parse_engine(config.engine_string()) == config
        assert kind.split(":")[0] in config.identity()


def test_cache_identities_of_existing_kinds_are_unchanged(tmp_path):
    # Caches filled before the registry still answer: the identities are the ones written then.
    from star1.engines.local import weights_fingerprint

    (tmp_path / "config.json").write_text("{}")
    assert parse_engine("{kind: bundled, dtype: float32}").identity() == \
        "bundled:SmolLM2-135M-Instruct.Q4_1.gguf:float32"
    assert parse_engine(f"{{kind: transformers, model: '{tmp_path}', dtype: bfloat16}}").identity() == \
        f"transformers:{tmp_path.resolve()}@{weights_fingerprint(tmp_path)}:bfloat16"
    assert parse_engine("{kind: transformers, model: org/name, dtype: float32}").identity() == \
        "transformers:org/name:float32"
    assert parse_engine("openai:gpt-4o@https://api.openai.com/v1").identity() == "openai:gpt-4o"
    # The same weights run by another engine answer differently: another identity.
    vllm = parse_engine(f"vllm:{tmp_path}?dtype=bfloat16").identity()
    assert vllm == f"vllm:{tmp_path.resolve()}@{weights_fingerprint(tmp_path)}:bfloat16"


def test_pool_overrides_reach_only_the_kinds_that_have_the_setting():
    from star1.engines import EnginePool

    pool = EnginePool(None, length_is_failure=False, batch_size=3)
    local, served = pool.config("bundled"), pool.config("openai:m@http://127.0.0.1:1/v1")
    assert (local.batch_size, local.length_is_failure) == (3, False)
    assert served.length_is_failure is False and "batch_size" not in type(served).model_fields


def test_every_kind_makes_an_engine_with_every_protocol_member_without_loading_anything(tmp_path):
    # The cache, the dry run and the judges use these members directly (no getattr probing).
    from star1.engines.registry import KINDS

    members = ("name", "identity", "native_reasoning", "scores_choices", "length_is_failure",
               "prepare", "cache_variant", "sampling_report", "generate", "close")
    (tmp_path / "config.json").write_text("{}")
    specs = {"bundled": "{kind: bundled, native_reasoning: false}",
             "transformers": f"{{kind: transformers, model: '{tmp_path}', native_reasoning: false}}",
             "openai": "openai:m@http://127.0.0.1:1/v1?native_reasoning=false",
             "vllm": f"vllm:{tmp_path}?native_reasoning=false"}
    for kind in KINDS:
        engine = parse_engine(specs[kind.model_fields["kind"].default]).make()
        missing = [m for m in members if not hasattr(engine, m)]
        assert not missing, (kind.__name__, missing)
        assert engine.scores_choices == kind.SCORES_CHOICES and engine.native_reasoning is False
        assert engine.cache_variant(__import__("star1.engines", fromlist=["x"]).ChatRequest.chat("q")) == ""
        engine.close()


def test_vllm_options_reach_its_engine_arguments_and_a_cpu_run_gets_a_bounded_kv_cache(tmp_path, monkeypatch):
    # On a CPU, vLLM would reserve 92% of all RAM unless told otherwise, and refuse to start on a
    # machine whose other processes hold more than 8%.
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    config = parse_engine(f"vllm:{tmp_path}?tensor_parallel_size=2&max_model_len=4096&enforce_eager=true"
                          "&distributed_executor_backend=ray&dtype=bfloat16")
    args = config.engine_args()
    assert (args["tensor_parallel_size"], args["max_model_len"], args["enforce_eager"], args["dtype"],
            args["distributed_executor_backend"]) == (2, 4096, True, "bfloat16", "ray")
    if config.run_device() == "cpu":
        assert args["kv_cache_memory_bytes"] == 2 * 1024**3
        chosen = parse_engine(f"vllm:{tmp_path}?gpu_memory_utilization=0.3").engine_args()
        assert chosen["gpu_memory_utilization"] == 0.3 and "kv_cache_memory_bytes" not in chosen
