"""Loss weighting through star1's real Trainer: packed per-sample weighting == the reference's per-sample
averaging over the whole step, across gradient accumulation; token weighting == the per-token mean.

The expected gradients are computed independently: every sample alone, unpacked, through the model's
own loss (mean over its answer tokens, as the reference's one-sample micro-batches), then averaged
over the step's samples (or, for token weighting, all answer tokens summed and divided by their count).
"""

import random

import pytest
import torch
from transformers import TrainerCallback

from conftest import tiny_qwen2
from star1.train import attention
from star1.train.config import TrainConfig
from star1.train.packing import pack_rows, plan_steps
from star1.train.render import IGNORE_INDEX, Tokenized
from star1.train.resolve import resolve, schedule
from star1.train.trainer import make_trainer, training_arguments

VOCAB = 300
# Answer-token counts from 3 to 70: per-sample and per-token means differ clearly on these.
LENGTHS = [(6, 40), (4, 12), (10, 80), (5, 23), (8, 50), (3, 9), (12, 31)]  # (prompt, total)


class GradCapture(TrainerCallback):
    """The accumulated gradients of each optimizer step, as the optimizer is about to use them."""

    def __init__(self):
        self.grads: list[dict[str, torch.Tensor]] = []

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.grads.append({n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None})


def _items(seed=0):
    rng = random.Random(seed)
    items = []
    for index, (prompt, total) in enumerate(LENGTHS):
        ids = [rng.randrange(3, VOCAB) for _ in range(total)]
        items.append(Tokenized(str(index), ids, [IGNORE_INDEX] * prompt + ids[prompt:]))
    return items


def _train_one_step(items, weighting, micro_batch_tokens, tmp_path):
    """One optimizer step of star1's Trainer over all items; returns (plan, gradients, logged loss)."""
    attention.register()
    config = TrainConfig(data=["memory"], out=str(tmp_path), device="cpu", threads=1,
                         global_batch_size=len(items), max_steps=1, warmup_ratio=0.0, max_grad_norm=0.0,
                         micro_batch_tokens=micro_batch_tokens, loss_weighting=weighting, logging_steps=1)
    resolved = resolve(config, find_model=False)
    schedule(resolved, config, 1)
    plan = plan_steps([len(i) for i in items], len(items), micro_batch_tokens, 1, 1, seed=0)
    resolved.accumulation = plan.accumulation
    model = tiny_qwen2(VOCAB)
    model.config._attn_implementation = resolved.attn_implementation
    args = training_arguments(config, resolved, tmp_path, save=False)
    args.disable_tqdm = True
    capture = GradCapture()
    trainer = make_trainer(model, args, pack_rows(plan, items, pad_id=0), callbacks=[capture],
                           loss_weighting=weighting)
    trainer.train()
    loss = next(e["loss"] for e in trainer.state.log_history if "loss" in e)
    assert len(capture.grads) == 1
    return plan, capture.grads[0], loss


def _expected(items, weighting):
    """The reference, computed without star1: each sample alone through the model's own loss."""
    model = tiny_qwen2(VOCAB)  # same seed: the same initial weights
    model.config._attn_implementation = "sdpa"
    model.train()
    counts = [sum(label != IGNORE_INDEX for label in item.labels[1:]) for item in items]
    total = torch.zeros(())
    for item, count in zip(items, counts):
        mean = model(input_ids=torch.tensor([item.input_ids]), labels=torch.tensor([item.labels])).loss
        # sample: the mean of per-sample means; token: every answer token of the step counts once.
        share = mean / len(items) if weighting == "sample" else mean * count / sum(counts)
        share.backward()
        total = total + share.detach()
    return {n: p.grad.clone() for n, p in model.named_parameters()}, total.item()


def _assert_same_grads(got, expected):
    assert got.keys() == expected.keys()
    for name, grad in expected.items():
        assert torch.allclose(got[name], grad, rtol=1e-4, atol=1e-7), name


@pytest.fixture(scope="module")
def expected():
    items = _items()
    return {w: _expected(items, w) for w in ("sample", "token")}


@pytest.mark.parametrize("micro_batch_tokens,rows", [(512, 1), (140, 2)], ids=["one-packed-row", "accumulation-2"])
def test_sample_weighting_equals_the_mean_of_per_sample_means(tmp_path, expected, micro_batch_tokens, rows):
    items = _items()
    plan, grads, loss = _train_one_step(items, "sample", micro_batch_tokens, tmp_path)
    assert plan.accumulation == rows
    if rows == 2:  # two micro-batches of different sizes: samples and tokens
        sizes = [len(row) for row in plan.steps[0]]
        tokens = [sum(len(items[i]) for i in row) for row in plan.steps[0]]
        assert sizes[0] != sizes[1] and tokens[0] != tokens[1]
    want_grads, want_loss = expected["sample"]
    assert loss == pytest.approx(want_loss, rel=1e-5)
    _assert_same_grads(grads, want_grads)


def test_token_weighting_is_the_mean_over_all_answer_tokens(tmp_path, expected):
    _, grads, loss = _train_one_step(_items(), "token", 140, tmp_path)
    want_grads, want_loss = expected["token"]
    assert loss == pytest.approx(want_loss, rel=1e-5)
    _assert_same_grads(grads, want_grads)
    # The two objectives really differ on these samples, so the tests above can tell them apart.
    sample_grads, sample_loss = expected["sample"]
    assert abs(sample_loss - want_loss) > 1e-3
    assert not torch.allclose(sample_grads["lm_head.weight"], want_grads["lm_head.weight"], rtol=1e-2, atol=1e-6)


def test_chunked_recomputed_loss_equals_one_pass():
    """The GPU path (chunks recomputed in backward) gives the plain weighted sum and its gradient."""
    from star1.train.loss import weighted_loss

    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 50, (1, 37), generator=generator)
    labels[0, :5] = IGNORE_INDEX
    weights = torch.rand(1, 37, generator=generator) * (labels != IGNORE_INDEX)
    start = torch.randn(1, 37, 50, generator=generator)
    plain = start.clone().requires_grad_()
    expected = (torch.nn.functional.cross_entropy(plain[0, :-1], labels[0, 1:], ignore_index=IGNORE_INDEX,
                                                  reduction="none") * weights[0, 1:]).sum()
    expected.backward()
    for chunk, recompute in ((1000, False), (8, True)):
        logits = start.clone().requires_grad_()
        loss = weighted_loss(logits, labels, weights, chunk_tokens=chunk, recompute=recompute)
        loss.backward()
        assert torch.allclose(loss, expected.detach())
        assert torch.allclose(logits.grad, plain.grad, rtol=1e-5, atol=1e-8)
