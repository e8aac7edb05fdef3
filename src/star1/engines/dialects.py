"""How each OpenAI-compatible server spells what star1 asks for.

Servers silently ignore request fields they do not know, so a setting sent under the wrong name
is lost without an error: llama.cpp's field for the repetition penalty is ``repeat_penalty``
(default 1.1), and a ``repetition_penalty: 1.2`` sent to it changed nothing while results
recorded 1.2. Each dialect therefore names the field it takes, and :func:`sampling_report`
says, per setting, what was asked, under which name it was sent, and whether the server is
known to honour it, so that evaluation records can say what really ran.

Verified here against llama-cpp-python's server (``python -m llama_cpp.server``); the vLLM,
SGLang and Ollama rows follow those projects' documentation (see docs/servers.md).
"""

from __future__ import annotations

from star1.engines.base import SamplingParams

# The request field that carries the repetition penalty; None: the server takes none through
# its OpenAI-compatible API (OpenAI; Ollama's /v1 lists no such field), so it is not sent.
REPETITION_FIELD = {"openai": None, "vllm": "repetition_penalty", "sglang": "repetition_penalty",
                    "llamacpp": "repeat_penalty", "ollama": None}

# Sampling defaults a server applies when star1 sends nothing (llama-cpp-python's request
# models: repeat_penalty 1.1, top_k 40), reported so that "not sent" is not read as "off".
SERVER_DEFAULTS = {"llamacpp": {"repetition_penalty": 1.1}}

# Requests in flight when the user did not set ``concurrency``. llama-cpp-python serves one
# request at a time (one lock around the model); 32 requests in flight then wait in its queue,
# inside their own timeout, and 4 of 5 timed out at timeout=20 in issue 14. Ollama runs one or
# a few per model depending on memory (OLLAMA_NUM_PARALLEL).
DEFAULT_CONCURRENCY = {"llamacpp": 1, "ollama": 1}


def limit_field(sampling: SamplingParams, dialect: str) -> str:
    """``max_completion_tokens`` is OpenAI's newer name; llama-cpp-python and Ollama know only
    ``max_tokens`` (llama-cpp-python then generates until its context is full), and vLLM and
    SGLang take both, so every server but OpenAI's gets ``max_tokens``."""
    return sampling.max_tokens_field if dialect == "openai" else "max_tokens"


def sampling_fields(sampling: SamplingParams, dialect: str) -> dict:
    """The request fields for ``sampling`` in ``dialect`` (None values are not sent)."""
    fields: dict = {}
    if sampling.max_tokens is not None:  # None: no limit sent (the reference's XSTest judge)
        fields[limit_field(sampling, dialect)] = sampling.max_tokens
    if sampling.temperature is not None:
        fields["temperature"] = sampling.temperature
    if sampling.top_p is not None:
        fields["top_p"] = sampling.top_p
    if sampling.stop:
        fields["stop"] = list(sampling.stop)
    if sampling.seed is not None:
        fields["seed"] = sampling.seed
    name = REPETITION_FIELD.get(dialect)
    if sampling.repetition_penalty is not None and name:
        fields[name] = sampling.repetition_penalty
    return fields


def sampling_report(sampling: SamplingParams, dialect: str) -> dict:
    """Per setting: ``asked`` (star1's value), ``sent_as`` (the field name, or None when not
    sent) and ``honoured`` (True / False; None = left to the server's default)."""
    sent = sampling_fields(sampling, dialect)
    report = {}
    asked = {"max_tokens": sampling.max_tokens, "temperature": sampling.temperature,
             "top_p": sampling.top_p, "stop": list(sampling.stop) or None, "seed": sampling.seed,
             "repetition_penalty": sampling.repetition_penalty}
    names = {"max_tokens": limit_field(sampling, dialect),
             "repetition_penalty": REPETITION_FIELD.get(dialect)}
    for key, value in asked.items():
        name = names.get(key, key)
        if value is None:
            entry = {"asked": None, "sent_as": None, "honoured": None}
            default = SERVER_DEFAULTS.get(dialect, {}).get(key)
            if default is not None:
                entry["server_default"] = default
        else:
            was_sent = name is not None and name in sent
            entry = {"asked": value, "sent_as": name if was_sent else None, "honoured": was_sent}
        report[key] = entry
    return report
