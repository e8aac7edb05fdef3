"""How the tokens of an optimizer step are weighted in the loss (``--loss-weighting``).

``sample``
    Every sample counts the same: the step's loss is the mean over its samples of each sample's
    mean token loss. This is what the reference (STAR-1's ``train/sft.py``) optimises: one sample
    per micro-batch, the model's own mean over that sample's answer tokens, and DeepSpeed
    averaging those means over 16 accumulation steps x 8 GPUs.
``token``
    Every answer token counts the same: the step's loss is the mean over all its answer tokens
    (transformers' Trainer with ``num_items_in_batch``), so long answers weigh more.

For ``sample``, a token t of sample s in a step of S samples gets the weight 1 / (n_s x S), with
n_s the sample's answer tokens. The weights of one optimizer step sum to 1 over all its packed
rows, whatever the rows, micro-batches and devices they are spread over: the weighted sum on one
micro-batch is that micro-batch's share of the step's loss, and the shares add up by gradient
accumulation (which the Trainer does not rescale, see :mod:`star1.train.trainer`) and by the
data-parallel sum (the backends average over ranks, so the share is multiplied by the number of
processes). S is known when the step is planned, so no count has to be gathered at run time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from star1.train.render import IGNORE_INDEX

WEIGHTINGS = ("sample", "token")
# Tokens per cross-entropy chunk. On GPU each chunk is recomputed in backward instead of keeping its
# fp32 log-softmax: at 16,384 tokens x 151,936 vocabulary that saves 9.3 GiB (arithmetic, 4 bytes per
# logit) for one more log-softmax per chunk. On CPU memory is not the limit and the recomputation
# cost 12-14% of the LM head's forward + backward (4,096 tokens, vocabulary 8,192, one thread).
CHUNK_TOKENS = 4096


def answer_tokens(labels: list[int]) -> int:
    return sum(1 for label in labels if label != IGNORE_INDEX)


def sample_weights(labels: list[int], seq_lens: list[int], step_samples: int) -> list[float]:
    """Per-token weights of one packed row: 1 / (n_s x S) on sample s's answer tokens, 0 elsewhere.

    ``labels`` are the row's labels as packed (the first token of every sequence already -100),
    ``seq_lens`` its sequences' lengths, ``step_samples`` the samples of the whole optimizer step.
    """
    if sum(seq_lens) != len(labels):
        raise ValueError(f"sequence lengths add up to {sum(seq_lens)}, the row has {len(labels)} labels")
    weights: list[float] = []
    start = 0
    for length in seq_lens:
        segment = labels[start:start + length]
        count = answer_tokens(segment)
        weight = 1.0 / (count * step_samples) if count else 0.0
        weights.extend(weight if label != IGNORE_INDEX else 0.0 for label in segment)
        start += length
    return weights


def _chunk_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    losses = F.cross_entropy(logits.float(), targets, ignore_index=IGNORE_INDEX, reduction="none")
    return (losses * weights).sum()


def weighted_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
                  chunk_tokens: int = CHUNK_TOKENS, recompute: bool | None = None) -> torch.Tensor:
    """sum_t weights[t] x CE(logits[t-1], labels[t]): position t-1 predicts token t, as in causal LM losses.

    ``recompute`` (default: on CUDA) recomputes each chunk's log-softmax in backward instead of keeping it.
    """
    if recompute is None:
        recompute = logits.is_cuda
    recompute = recompute and torch.is_grad_enabled() and logits.requires_grad
    vocab = logits.shape[-1]
    logits = logits[..., :-1, :].reshape(-1, vocab)
    targets = labels[..., 1:].reshape(-1).to(logits.device)
    weights = weights[..., 1:].reshape(-1).to(device=logits.device, dtype=torch.float32)
    total = logits.new_zeros((), dtype=torch.float32)
    for start in range(0, targets.numel(), chunk_tokens):
        end = start + chunk_tokens
        piece = (logits[start:end], targets[start:end], weights[start:end])
        if recompute:
            total = total + checkpoint(_chunk_loss, *piece, use_reentrant=False)
        else:
            total = total + _chunk_loss(*piece)
    return total
