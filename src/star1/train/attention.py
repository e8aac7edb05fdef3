"""Attention over packed rows: each sequence attends only to itself, and no padding is computed.

A packed micro-batch is one row of several sequences; ``position_ids`` restart at 0 for each, and
the collator also passes their boundaries as ``cu_seq_lens_q/k`` (cumulative lengths) and
``max_length_q/k``, the keyword arguments transformers forwards to attention functions.

Two attention functions are registered with ``transformers.AttentionInterface``:

``star1_varlen``
    ``torch.nn.attention.varlen.varlen_attn`` (torch >= 2.10): the FlashAttention varlen kernels
    shipped inside PyTorch, on CUDA, without compilation or the flash-attn package. Its keyword
    arguments changed between releases (2.10: ``is_causal``; 2.11: ``window_size=(-1, 0)`` and
    ``scale``; 2.12: ``enable_gqa``), so they are chosen from its signature.
``star1_segments``
    ``scaled_dot_product_attention`` run causally on each sequence in turn: exact, no T x T mask,
    works on any device. The fallback on CPU and where no varlen kernel exists.

Neither has a mask function registered, so transformers builds no attention mask for them.
"""

from __future__ import annotations

import functools
import inspect
import logging

import torch
import torch.nn.functional as F

VARLEN = "star1_varlen"
SEGMENTS = "star1_segments"
PACKED_IMPLEMENTATIONS = (VARLEN, SEGMENTS, "flash_attention_2", "flash_attention_3")


def boundaries(position_ids: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Cumulative sequence lengths (int32) and the longest length, from restarting position ids."""
    flat = position_ids.reshape(-1)
    starts = torch.nonzero(flat == 0).flatten()
    if starts.numel() == 0 or int(starts[0]) != 0:
        starts = torch.cat([torch.zeros(1, dtype=starts.dtype, device=starts.device), starts])
    cu = torch.cat([starts, torch.tensor([flat.numel()], device=flat.device)]).to(torch.int32)
    return cu, int((cu[1:] - cu[:-1]).max())


def _sequence_bounds(kwargs: dict, query: torch.Tensor) -> tuple[torch.Tensor, int]:
    cu = kwargs.get("cu_seq_lens_q")
    if cu is not None:
        max_len = kwargs.get("max_length_q")
        return cu, int(max_len) if max_len is not None else int((cu[1:] - cu[:-1]).max())
    position_ids = kwargs.get("position_ids")
    if position_ids is not None:
        return boundaries(position_ids)
    batch, _, length, _ = query.shape  # one sequence per row
    cu = torch.arange(0, (batch + 1) * length, length, dtype=torch.int32, device=query.device)
    return cu, length


@functools.cache
def varlen_kernel():
    """``varlen_attn`` with its keyword arguments for this torch version, or None if unavailable."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    params = inspect.signature(varlen_attn).parameters
    causal = {"window_size": (-1, 0)} if "window_size" in params else {"is_causal": True}

    def kernel(q, k, v, cu, max_len, scale):
        extra = dict(causal)
        if "enable_gqa" in params:
            extra["enable_gqa"] = q.shape[1] != k.shape[1]
        elif q.shape[1] != k.shape[1]:
            repeat = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
        if "scale" in params:
            extra["scale"] = scale
        elif scale is not None and abs(scale - q.shape[-1] ** -0.5) > 1e-6:
            raise ValueError(f"this torch's varlen_attn has no 'scale'; the model needs {scale}")
        return varlen_attn(q, k, v, cu, cu, max_len, max_len, **extra)

    return kernel


def segments_kernel(q, k, v, cu, max_len, scale):
    """Reference varlen attention: causal SDPA on each sequence. q, k, v are (tokens, heads, dim)."""
    gqa = q.shape[1] != k.shape[1]
    lengths = (cu[1:] - cu[:-1]).tolist()
    pieces = []
    # split (not slicing) so that backward assembles the gradient in one concatenation.
    for qs, ks, vs in zip(q.split(lengths), k.split(lengths), v.split(lengths)):
        # 4-D inputs reach SDPA's fused kernels; 3-D ones fall back to the slow math path on CPU.
        qs, ks, vs = (t.transpose(0, 1)[None] for t in (qs, ks, vs))
        out = F.scaled_dot_product_attention(qs, ks, vs, is_causal=True, scale=scale, enable_gqa=gqa)
        pieces.append(out[0].transpose(0, 1))
    return torch.cat(pieces)


@functools.cache
def _warn_dropout(dropout: float) -> None:
    logging.getLogger(__name__).warning("attention dropout %s is not applied by star1's packed attention", dropout)


def packed_attention(kernel, module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers attention-function signature over a varlen ``kernel``.

    query/key/value arrive as (batch, heads, tokens, dim); all rows are flattened into one stream
    of sequences, and the output goes back as (batch, tokens, heads, dim).
    """
    if attention_mask is not None and attention_mask.dim() == 2 and not bool(attention_mask.all()):
        raise ValueError("packed attention takes packed rows without padding; got a padding mask")
    if dropout:
        _warn_dropout(dropout)
    batch, heads, length, dim = query.shape
    cu, max_len = _sequence_bounds(kwargs, query)
    q = query.transpose(1, 2).reshape(batch * length, heads, dim)
    k = key.transpose(1, 2).reshape(batch * length, key.shape[1], dim)
    v = value.transpose(1, 2).reshape(batch * length, value.shape[1], dim)
    if kernel is not segments_kernel and q.dtype not in (torch.float16, torch.bfloat16):
        # Rotary embeddings upcast q and k under autocast; the flash kernels take half precision only.
        half = torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else torch.bfloat16
        q, k, v = q.to(half), k.to(half), v.to(half)
    out = kernel(q, k, v, cu.to(device=q.device, dtype=torch.int32), max_len, scaling)
    return out.reshape(batch, length, heads, dim), None


def register() -> None:
    """Make ``star1_varlen`` and ``star1_segments`` valid ``attn_implementation`` names."""
    from transformers import AttentionInterface

    AttentionInterface.register(SEGMENTS, functools.partial(packed_attention, segments_kernel))
    kernel = varlen_kernel()
    if kernel is not None:
        AttentionInterface.register(VARLEN, functools.partial(packed_attention, kernel))


def varlen_available() -> bool:
    return torch.cuda.is_available() and varlen_kernel() is not None


def flash_attn_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("flash_attn") is not None


def choose(requested: str, device: str, half_precision: bool) -> tuple[str, str]:
    """The attention implementation to use, and why."""
    if requested != "auto":
        if requested == VARLEN and not varlen_available():
            raise ValueError("star1_varlen needs CUDA and torch >= 2.10 (torch.nn.attention.varlen)")
        return requested, "requested"
    if device == "cuda" and half_precision:
        if flash_attn_installed():
            return "flash_attention_2", "flash-attn is installed"
        if varlen_available():
            return VARLEN, "FlashAttention varlen kernels of torch.nn.attention.varlen"
    return SEGMENTS, "exact per-sequence SDPA (no varlen kernel for this device / precision)"
