"""Render a chat prompt with the model's own template, for servers that ignore assistant prefill.

llama-cpp-python's chat endpoint drops ``continue_final_message``: it closes the prefilled
assistant turn and opens a new one, so a "continuation" is a fresh answer (verified). Its
``/v1/completions`` endpoint takes raw text, so star1 renders the prompt itself — template,
generation prompt, then the prefill — and the model really continues it.

These functions run inside the template worker (:mod:`star1.engines.template_worker`), which
bounds the template's time and memory; the engine never calls them itself.
"""

from __future__ import annotations

from functools import lru_cache

from star1.errors import SetupError


@lru_cache(maxsize=4)
def load_tokenizer(name: str):
    """``bundled`` (the bundled SmolLM2's tokenizer), a local folder or ``.gguf`` file, or a hub id.

    Never with remote code: a tokenizer folder can name Python files of its own (``auto_map``),
    and a folder may have been found through a server's ``/v1/models`` listing. With
    ``trust_remote_code=False`` transformers refuses such a folder instead of asking on the
    terminal (answering "y" there ran the code)."""
    from transformers import AutoTokenizer

    kwargs: dict = {"trust_remote_code": False}
    if name == "bundled":
        from star1.engines.bundled import bundled_model_dir

        path = str(bundled_model_dir())
    elif name.endswith(".gguf"):  # a GGUF file carries its tokenizer and chat template
        from pathlib import Path

        path, kwargs["gguf_file"] = str(Path(name).parent), Path(name).name
    else:
        path = name
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise SetupError(f"tokenizer={name!r}: cannot load it ({' '.join(str(exc).split())[:500]}); give a "
                         "local model folder, a hub id, or 'bundled'") from None
    if not tokenizer.chat_template:
        raise SetupError(f"tokenizer={name!r} has no chat template; give the tokenizer of the served model")
    return tokenizer


def prepare(tokenizer) -> None:
    """Work a render needs that does not depend on the template (whether the tokenizer adds a
    BOS), done once at load, before the render's memory cap."""
    tokenizer._star1_adds_bos = _adds_bos(tokenizer)


def render_prompt(tokenizer, messages, prefill: str) -> str:
    """The model's chat template with its generation prompt, then ``prefill``.

    A leading BOS written by the template is dropped only when the tokenizer itself adds one
    (Llama 3): servers tokenize a completions prompt with the model's own BOS rule, and the
    text would then hold two. SmolLM2's BOS is ``<|im_start|>``, the first token of every turn,
    and its tokenizer adds none, so there it stays."""
    from star1.engines.base import plain_messages

    text = tokenizer.apply_chat_template(plain_messages(messages), tokenize=False,
                                         add_generation_prompt=True)
    if not isinstance(text, str):
        raise TypeError(f"the template rendered a {type(text).__name__}, not text")
    bos = tokenizer.bos_token
    adds_bos = getattr(tokenizer, "_star1_adds_bos", None)
    if bos and text.startswith(bos) and (adds_bos if adds_bos is not None else _adds_bos(tokenizer)):
        text = text[len(bos):]
    return text + prefill


def _adds_bos(tokenizer) -> bool:
    ids = tokenizer("", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == tokenizer.bos_token_id
