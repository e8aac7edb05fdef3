"""Every config in configs/accelerate/ against the installed accelerate's and DeepSpeed's own schemas: read the
way ``accelerate launch`` reads it, every key known to the launcher, and the plugin (and DeepSpeed config) the
launched processes build from it constructs with the values the file means."""

import os
from pathlib import Path

import pytest
import yaml

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "accelerate"
SECTIONS = {"fsdp_config": "fsdp_", "deepspeed_config": "", "dynamo_config": "dynamo_", "fp8_config": "fp8_"}


def _launch(path: Path, monkeypatch) -> dict[str, str]:
    """What ``accelerate launch --config_file PATH`` puts in its workers' environment (set here too)."""
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    load_config_from_file(str(path))  # accelerate's own check: an unknown top-level key is a ValueError
    args, defaults, _ = _validate_launch_command(launch_command_parser().parse_args(
        ["--config_file", str(path), "--main_process_port", "0", "train.py"]))
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)  # as launch_command does
        _, env = prepare_deepspeed_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    for key in [k for k in os.environ if k.startswith(("ACCELERATE_", "FSDP_"))]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith(("ACCELERATE_", "FSDP_")):
            monkeypatch.setenv(key, value)
    return env


def unknown_keys(path: Path) -> list[str]:
    """Keys of the file's sections that ``accelerate launch`` has no option for (it copies a section's keys
    onto its arguments, prefixing fsdp_config keys with ``fsdp_``, and ignores what matches nothing)."""
    from accelerate.commands.launch import launch_command_parser

    options = {action.dest for action in launch_command_parser()._actions}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    unknown = []
    for section, prefix in SECTIONS.items():
        for key in data.get(section) or {}:
            if (key if key.startswith(prefix) else prefix + key) not in options:
                unknown.append(f"{section}.{key}")
    return unknown


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_key_is_one_accelerate_launch_knows(name):
    from accelerate.commands.config.config_args import load_config_from_file

    load_config_from_file(str(CONFIGS / name))
    assert unknown_keys(CONFIGS / name) == []


def test_the_key_check_catches_misspellings(tmp_path):
    from accelerate.commands.config.config_args import load_config_from_file

    data = yaml.safe_load((CONFIGS / "fsdp.yaml").read_text(encoding="utf-8"))
    data["fsdp_config"]["fsdp_reshard_after_forwardd"] = True
    data["deepspeed_config"] = {"zero_stage": 3, "zero3_save_16bit_weights": True}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert unknown_keys(bad) == ["fsdp_config.fsdp_reshard_after_forwardd", "deepspeed_config.zero3_save_16bit_weights"]
    data["num_gpus"] = 8
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown keys"):
        load_config_from_file(str(bad))


def test_fsdp_config_builds_fsdp2_with_a_full_state_dict(monkeypatch):
    from accelerate.utils import FullyShardedDataParallelPlugin
    from torch.distributed.fsdp import StateDictType

    env = _launch(CONFIGS / "fsdp.yaml", monkeypatch)
    assert env["ACCELERATE_USE_FSDP"] == "true"
    plugin = FullyShardedDataParallelPlugin()  # reads the launcher's FSDP_* variables, validating each
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
    assert plugin.state_dict_type == StateDictType.FULL_STATE_DICT  # OUT is one ordinary checkpoint
    assert plugin.auto_wrap_policy.__name__ == "transformer_auto_wrap_policy"
    assert plugin.cpu_ram_efficient_loading and not plugin.activation_checkpointing


def test_zero3_config_is_a_valid_deepspeed_zero3_config(monkeypatch):
    from accelerate.utils import DeepSpeedPlugin
    from deepspeed.runtime.config import DeepSpeedConfig
    from transformers.integrations import HfDeepSpeedConfig

    env = _launch(CONFIGS / "zero3.yaml", monkeypatch)
    assert env["ACCELERATE_USE_DEEPSPEED"] == "true"
    config = DeepSpeedPlugin().deepspeed_config  # the DeepSpeed config accelerate builds from the launch
    zero = config["zero_optimization"]
    assert zero["stage"] == 3 and zero["stage3_gather_16bit_weights_on_model_save"] is True
    assert zero["offload_optimizer"]["device"] == "none" and zero["offload_param"]["device"] == "none"
    assert HfDeepSpeedConfig(config).is_zero3()

    def concrete(value):  # the Trainer fills accelerate's "auto" values (batch sizes, clipping) at run time
        if isinstance(value, dict):
            return {key: concrete(v) for key, v in value.items()}
        return 1 if value == "auto" else value

    parsed = DeepSpeedConfig(concrete(config))  # DeepSpeed's pydantic models forbid unknown keys
    assert parsed.zero_optimization_stage == 3 and parsed.zero_config.gather_16bit_weights_on_model_save
    misspelt = concrete(config)
    misspelt["zero_optimization"]["stage3_gather_16bit_weights_on_modelsave"] = True
    with pytest.raises(Exception, match="Extra inputs are not permitted"):
        DeepSpeedConfig(misspelt)
