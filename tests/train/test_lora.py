"""LoRA for real on the bundled SmolLM2-135M: adapter saved, merged checkpoint loads as a plain model."""

import pytest
import torch
from safetensors.torch import load_file

from star1.train.config import TrainConfig
from star1.train.run import train

pytestmark = pytest.mark.slow


def test_lora_trains_the_bundled_model_and_saves_a_merged_checkpoint(smol_dir, star1_subset, tmp_path):
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "lora"
    config = TrainConfig(model="bundled", data=[str(star1_subset)], out=str(out), lora=True, lora_r=8,
                         max_steps=2, global_batch_size=2, max_length=64, learning_rate=1e-3,
                         warmup_ratio=0.0, device="cpu")
    result = train(config, quiet=True)
    assert result.trainer.state.global_step == 2 and result.final_loss == result.final_loss  # not NaN
    adapter_weights = load_file(out / "adapter" / "adapter_model.safetensors")
    assert adapter_weights and all("lora_" in name for name in adapter_weights)

    base, merged = load_file(smol_dir / "model.safetensors"), load_file(out / "model.safetensors")
    assert base.keys() == merged.keys()  # a plain checkpoint, no adapter names
    changed = {n for n in base if not torch.equal(base[n], merged[n])}
    assert "model.layers.0.self_attn.q_proj.weight" in changed and "model.layers.29.mlp.down_proj.weight" in changed
    assert "model.embed_tokens.weight" not in changed and "model.norm.weight" not in changed

    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    adapter = AutoPeftModelForCausalLM.from_pretrained(out / "adapter").eval()
    ids = tokenizer("Is it safe to mix bleach and ammonia?", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, adapter(input_ids=ids).logits,
                                   rtol=1e-4, atol=1e-4)
    assert tokenizer.chat_template == AutoTokenizer.from_pretrained(smol_dir).chat_template
