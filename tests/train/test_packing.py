"""Packing: steps of exactly the global batch, balanced padding-free rows, and no leakage between sequences."""

import inspect
import random

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_qwen2
from star1.train import attention
from star1.train.packing import PackedCollator, fingerprint, pack_rows, plan_steps
from star1.train.render import IGNORE_INDEX, Tokenized


def _items(lengths, vocab=1000, seed=0, prompt=5):
    rng = random.Random(seed)
    items = []
    for i, n in enumerate(lengths):
        ids = [rng.randrange(3, vocab) for _ in range(n)]
        items.append(Tokenized(str(i), ids, [IGNORE_INDEX] * prompt + ids[prompt:]))
    return items


def test_each_step_holds_global_batch_sequences_in_balanced_rows():
    rng = random.Random(1)
    lengths = [rng.randint(20, 400) for _ in range(1000)]
    plan = plan_steps(lengths, global_batch=128, micro_batch_tokens=4096, world_size=1, total_steps=40, seed=7)
    assert plan.steps_per_epoch == 8 and len(plan.steps) == 40
    for epoch in range(5):
        steps = plan.steps[epoch * 8:(epoch + 1) * 8]
        seen = sorted(i for step in steps for row in step for i in row)
        assert seen == list(range(1000))  # every sample exactly once per epoch
        assert [sum(len(r) for r in step) for step in steps] == [128] * 7 + [104]
    assert plan.steps[0] != plan.steps[8]  # each epoch is shuffled differently
    for step in plan.steps:
        assert len(step) == plan.accumulation
        loads = [sum(lengths[i] for i in row) for row in step]
        assert max(loads) <= 4096
    full = plan.steps[0]
    loads = [sum(lengths[i] for i in row) for row in full]
    assert max(loads) - min(loads) <= 400  # longest-first balancing: rows differ by at most one sample
    assert plan_steps(lengths, 128, 4096, 1, 40, seed=7).steps == plan.steps  # seeded


def test_rows_are_laid_out_so_each_device_gets_rows_of_the_same_step():
    lengths = [100] * 64
    plan = plan_steps(lengths, global_batch=32, micro_batch_tokens=800, world_size=2, total_steps=4, seed=0)
    assert plan.accumulation * plan.world_size == len(plan.steps[0])
    rows = plan.rows
    per_step = len(plan.steps[0])
    for device in range(2):
        mine = rows[device::2]  # what accelerate's BatchSamplerShard hands device `device`
        for step_index, step in enumerate(plan.steps):
            chunk = mine[step_index * plan.accumulation:(step_index + 1) * plan.accumulation]
            assert all(row in step for row in chunk)
    assert len(rows) == 4 * per_step


def test_a_step_keeps_its_samples_at_every_world_size_and_the_accumulation_adapts():
    rng = random.Random(3)
    lengths = [rng.randint(20, 400) for _ in range(200)]
    items = _items(lengths)
    plans = {w: plan_steps(lengths, global_batch=32, micro_batch_tokens=1024, world_size=w, total_steps=12, seed=5)
             for w in (1, 2, 4, 8)}
    samples = {w: [sorted(i for row in step for i in row) for step in plan.steps] for w, plan in plans.items()}
    assert samples[1] == samples[2] == samples[4] == samples[8]  # the global batch does not change
    for w, plan in plans.items():
        assert all(len(step) == plan.accumulation * w for step in plan.steps)
    assert plans[1].accumulation > plans[2].accumulation >= plans[8].accumulation
    # A run checkpointed at one world size resumes at another: the fingerprint ignores the layout...
    assert len({fingerprint(items, plan, "sample") for plan in plans.values()}) == 1
    # ...but not which samples a step holds.
    other = plan_steps(lengths, global_batch=32, micro_batch_tokens=1024, world_size=2, total_steps=12, seed=6)
    assert fingerprint(items, other, "sample") != fingerprint(items, plans[2], "sample")


def test_small_steps_get_placeholder_rows_without_labels():
    items = _items([50, 60, 70])
    plan = plan_steps([len(i) for i in items], global_batch=3, micro_batch_tokens=80, world_size=4,
                      total_steps=1, seed=0)
    rows = pack_rows(plan, items, pad_id=0)
    assert len(rows) == 4 and sum(1 for r in rows if r["seq_lens"] == [1]) == 1
    placeholder = next(r for r in rows if r["seq_lens"] == [1])
    assert placeholder["labels"] == [IGNORE_INDEX]


def test_collator_restarts_positions_and_masks_each_first_token():
    items = _items([7, 5, 9], prompt=0)
    plan = plan_steps([7, 5, 9], global_batch=3, micro_batch_tokens=64, world_size=1, total_steps=1, seed=0)
    batch = PackedCollator()(pack_rows(plan, items, pad_id=0))
    row = plan.steps[0][0]
    lens = [len(items[i]) for i in row]
    assert batch["input_ids"].shape == (1, 21)
    assert batch["position_ids"][0].tolist() == [p for n in lens for p in range(n)]
    assert batch["cu_seq_lens_q"].tolist() == [0, lens[0], lens[0] + lens[1], 21]
    assert batch["max_length_q"] == 9
    starts = batch["cu_seq_lens_q"][:-1].tolist()
    assert all(batch["labels"][0, s] == IGNORE_INDEX for s in starts)
    assert (batch["labels"] != IGNORE_INDEX).sum() == 21 - 3


def _token_losses(model, batch):
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs).logits[0, :-1].float()
    labels = batch["labels"][0, 1:]
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="none"), labels != IGNORE_INDEX


@pytest.fixture(scope="module")
def packed_case():
    torch.manual_seed(0)
    items = _items([37, 12, 64, 23, 50], vocab=500, prompt=6)
    plan = plan_steps([len(i) for i in items], global_batch=5, micro_batch_tokens=256, world_size=1,
                      total_steps=1, seed=3)
    batch = PackedCollator()(pack_rows(plan, items, pad_id=0))
    order = plan.steps[0][0]
    return items, order, batch


@pytest.mark.parametrize("impl", [attention.SEGMENTS, "sdpa", "eager"])
def test_packed_loss_equals_the_per_sequence_losses(packed_case, impl):
    """The proof that packed sequences do not see each other: same per-token losses as alone."""
    attention.register()
    items, order, batch = packed_case
    model = tiny_qwen2(500)
    model.config._attn_implementation = impl
    model.eval()
    with torch.no_grad():
        packed, mask = _token_losses(model, batch)
        alone_sum, alone_count, alone_means, offset = 0.0, 0, [], 0
        for index in order:
            single = PackedCollator()([{"input_ids": items[index].input_ids,
                                        "labels": [IGNORE_INDEX] + items[index].labels[1:],
                                        "seq_lens": [len(items[index])]}])
            losses, valid = _token_losses(model, single)
            n = len(items[index])
            # Per token: the packed row holds the same losses, in place (the boundary token is masked).
            torch.testing.assert_close(packed[offset:offset + n - 1][valid], losses[valid], rtol=1e-5, atol=1e-5)
            alone_sum += losses[valid].sum().item()
            alone_count += int(valid.sum())
            alone_means.append(losses[valid].mean().item())
            offset += n
        # The batch loss the Trainer optimises: mean over label tokens == token-weighted mean of the sequences.
        batch_loss = model(**batch).loss.item()
        assert batch_loss == pytest.approx(alone_sum / alone_count, rel=1e-5)
        weights = [sum(label != IGNORE_INDEX for label in items[i].labels[1:]) for i in order]
        assert batch_loss == pytest.approx(sum(w * m for w, m in zip(weights, alone_means)) / sum(weights), rel=1e-5)


def test_without_restarted_positions_the_sequences_would_leak(packed_case):
    """Negative control: the same row as one long sequence gives different losses."""
    items, order, batch = packed_case
    model = tiny_qwen2(500)
    model.config._attn_implementation = "sdpa"
    model.eval()
    leaky = {"input_ids": batch["input_ids"], "labels": batch["labels"]}
    with torch.no_grad():
        packed, mask = _token_losses(model, batch)
        leaked, _ = _token_losses(model, leaky)
    first = len(items[order[0]]) - 1
    torch.testing.assert_close(packed[:first], leaked[:first], rtol=1e-5, atol=1e-5)  # first sequence: same
    assert not torch.allclose(packed[first:][mask[first:]], leaked[first:][mask[first:]], atol=1e-3)


def _reference(q, k, v, cu, scale):
    return attention.segments_kernel(q, k, v, cu, None, scale)


def _fake_varlen_2_13(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *, return_aux=None, scale=None,
                      window_size=(-1, -1), enable_gqa=False, seqused_k=None, block_table=None, num_splits=None):
    assert window_size == (-1, 0) and enable_gqa == (query.shape[1] != key.shape[1])
    assert cu_seq_q.dtype == torch.int32 and torch.equal(cu_seq_q, cu_seq_k) and max_q == max_k
    assert query.dtype in (torch.bfloat16, torch.float16)
    return _reference(query.float(), key.float(), value.float(), cu_seq_q, scale).to(query.dtype)


def _fake_varlen_2_10(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, is_causal=False, return_aux=None):
    assert is_causal and query.shape[1] == key.shape[1]  # 2.10 has no GQA: the wrapper repeats k/v
    return _reference(query.float(), key.float(), value.float(), cu_seq_q, None).to(query.dtype)


@pytest.mark.parametrize("fake", [_fake_varlen_2_13, _fake_varlen_2_10])
def test_varlen_wrapper_adapts_to_each_torch_signature(monkeypatch, fake):
    """varlen_attn runs on CUDA only; a stand-in with each release's signature checks how it is called."""
    import torch.nn.attention.varlen as varlen_module

    monkeypatch.setattr(varlen_module, "varlen_attn", fake)
    attention.varlen_kernel.cache_clear()
    try:
        kernel = attention.varlen_kernel()
        torch.manual_seed(0)
        query, key, value = torch.randn(1, 4, 30, 16), torch.randn(1, 2, 30, 16), torch.randn(1, 2, 30, 16)
        positions = torch.tensor([list(range(10)) + list(range(20))])
        scale = 16 ** -0.5
        out, _ = attention.packed_attention(kernel, None, query, key, value, None, scaling=scale,
                                            position_ids=positions)
        cu = torch.tensor([0, 10, 30], dtype=torch.int32)
        q, k, v = (t.transpose(1, 2).reshape(30, -1, 16) for t in (query, key, value))
        expected = _reference(q.bfloat16().float(), k.bfloat16().float(), v.bfloat16().float(), cu, scale)
        torch.testing.assert_close(out.float().reshape(30, 4, 16), expected, rtol=2e-2, atol=2e-2)
    finally:
        attention.varlen_kernel.cache_clear()


def test_boundaries_from_position_ids():
    cu, longest = attention.boundaries(torch.tensor([[0, 1, 2, 0, 1, 0, 1, 2, 3]]))
    assert cu.tolist() == [0, 3, 5, 9] and longest == 4 and cu.dtype == torch.int32


def test_installed_torch_has_the_varlen_signature_star1_expects():
    import torch.nn.attention.varlen as varlen_module

    params = inspect.signature(varlen_module.varlen_attn).parameters
    assert {"window_size", "scale"} <= set(params) or "is_causal" in params
