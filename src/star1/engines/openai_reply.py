"""Reading one server reply into plain, validated values — or a :class:`MalformedReply`.

A reply becomes a :class:`~star1.engines.Completion` (and so a call-cache row) only after every
field star1 uses has the right type: ``content`` / ``reasoning_content`` text or null,
``finish_reason`` a short string, token counts non-negative integers. A body that is too large,
not UTF-8, not JSON, nested past Python's recursion limit (a 100,000-deep list makes
``json.loads`` raise ``RecursionError``), or holding an unpaired surrogate (``"\\ud800"``, which
no UTF-8 file or SQLite row can store) is malformed: the call is retried, then recorded as failed.
Bad token counts (a string, NaN, negative) are not worth losing an answer over: they count as 0,
with a warning.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass

from star1.redact import clip, redact_obj

log = logging.getLogger(__name__)

# A 32k-token answer is about 150 KB of JSON; 16 MiB leaves room for any real reply and stops
# a server streaming garbage from filling memory.
MAX_BODY_BYTES = 16 * 1024 * 1024
# What max_tokens allows, generously: 32 characters per token is over 7 times English text's
# ~4.3 (SmolLM2's tokenizer on the STAR-1 prompts) and covers the longest single tokens of
# common vocabularies (runs of spaces or dashes in code tokenizers); 64 KiB more covers any
# server that counts tokens its own way. Reasoning may not count against max_tokens (DeepSeek's
# first reasoner API left its chain of thought out: up to 32K tokens), so it gets the larger of
# the two. No answer or reasoning is ever longer than MAX_REPLY_CHARS (about a million tokens).
CHARS_PER_TOKEN_BOUND = 32
REPLY_SLACK_CHARS = 64 * 1024
REASONING_TOKENS_BOUND = 32 * 1024
MAX_REPLY_CHARS = 4 * 1024 * 1024
_SURROGATE = re.compile("[\ud800-\udfff]")


class MalformedReply(Exception):
    """The reply cannot be read; the message says what was wrong with it."""


class EmptyStream(MalformedReply):
    """A stream with no event at all: llama-cpp-python's answer to a prompt longer than its
    context window when streaming (the same request unstreamed gets HTTP 400 with the reason)."""


@dataclass
class ReplyParts:
    text: str
    reasoning: str | None
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


def parse_json(body: bytes):
    """The JSON value of ``body``; :class:`MalformedReply` for anything that is not one."""
    if len(body) > MAX_BODY_BYTES:
        raise MalformedReply(f"malformed response: body larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise MalformedReply("malformed response: body is not UTF-8") from None
    except RecursionError:
        raise MalformedReply("malformed response: JSON nested too deeply") from None
    except ValueError as exc:
        raise MalformedReply(f"malformed response: not JSON ({exc.msg if hasattr(exc, 'msg') else exc})") from None


def _text(value, name: str, default: str | None) -> str | None:
    if value is None:
        return default
    if not isinstance(value, str):
        raise MalformedReply(f"malformed response: {name} is {type(value).__name__}, not text")
    if _SURROGATE.search(value):
        raise MalformedReply(f"malformed response: {name} holds an unpaired surrogate (not valid Unicode)")
    return value


def _choice_text(choice: dict, endpoint: str, part: str, missing):
    """(text, reasoning) of one choice: ``text`` on /v1/completions; else the ``message`` (or a
    stream's ``delta``) content and its reasoning — ``reasoning_content`` (DeepSeek, older vLLM)
    or ``reasoning`` (newer vLLM); ``missing`` where there is none."""
    if endpoint == "completions":
        return _text(choice.get("text"), "text", ""), missing
    body = choice.get(part)
    if not isinstance(body, dict):
        raise MalformedReply(f"malformed response: {'stream ' if part == 'delta' else ''}choice has no {part}")
    reasoning = (_text(body.get("reasoning_content"), "reasoning_content", missing)
                 or _text(body.get("reasoning"), "reasoning", missing))
    return _text(body.get("content"), "content", ""), reasoning

def _count(usage: dict, name: str) -> int:
    value = usage.get(name)
    if value is None:
        return 0
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and isinstance(value, float):
        number = math.isfinite(value) and value == int(value)
    if not number or not 0 <= value <= 10**12:
        log.warning("server reported usage.%s=%s; counted as 0", name, clip(repr(redact_obj(value)), 80))
        return 0
    return int(value)


def check_size(parts: ReplyParts, max_tokens: int | None) -> ReplyParts:
    """``parts`` if their text fits what ``max_tokens`` allows (see :data:`CHARS_PER_TOKEN_BOUND`);
    :class:`MalformedReply` for a reply far beyond it, which is that call's failure (retried,
    then recorded) and is never cached or forwarded to the next stage."""
    text_limit = MAX_REPLY_CHARS
    reasoning_limit = MAX_REPLY_CHARS
    if max_tokens is not None:
        text_limit = min(MAX_REPLY_CHARS, max_tokens * CHARS_PER_TOKEN_BOUND + REPLY_SLACK_CHARS)
        reasoning_limit = min(MAX_REPLY_CHARS, max(max_tokens, REASONING_TOKENS_BOUND) * CHARS_PER_TOKEN_BOUND
                              + REPLY_SLACK_CHARS)
    for name, value, limit in (("answer", parts.text, text_limit), ("reasoning", parts.reasoning, reasoning_limit)):
        if value and len(value) > limit:
            bound = f"max_tokens={max_tokens} allows at most {limit}" if max_tokens is not None else \
                f"no reply is longer than {limit}"
            raise MalformedReply(f"malformed response: the {name} is {len(value)} characters long; {bound}")
    return parts


def read_reply(payload, endpoint: str) -> ReplyParts:
    """Validate a chat (``message``) or text (``text``, /v1/completions) completion body."""
    if not isinstance(payload, dict):
        raise MalformedReply("malformed response: not a JSON object")
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedReply("malformed response: no choices")
    choice = choices[0]
    text, reasoning = _choice_text(choice, endpoint, "message", None)
    finish_reason = _text(choice.get("finish_reason"), "finish_reason", "stop") or "stop"
    if len(finish_reason) > 40:
        raise MalformedReply("malformed response: finish_reason is not a reason")
    usage = payload.get("usage")
    if usage is not None and not isinstance(usage, dict):
        log.warning("server reported usage as %s; token counts set to 0", type(usage).__name__)
        usage = None
    usage = usage or {}
    return ReplyParts(text=text or "", reasoning=reasoning, finish_reason=finish_reason,
                      prompt_tokens=_count(usage, "prompt_tokens"),
                      completion_tokens=_count(usage, "completion_tokens"))


def read_stream(body: bytes, endpoint: str) -> ReplyParts:
    """Validate a streamed (server-sent events) completion, read to its end.

    llama-cpp-python sends one token per event and no usage, so the events that carried text
    count the completion tokens. A stream that ends without a ``finish_reason`` was cut short
    (llama-cpp-python ends a running stream with ``[DONE]`` when another request arrives) and
    is malformed: retried like any broken reply."""
    if len(body) > MAX_BODY_BYTES:
        raise MalformedReply(f"malformed response: body larger than {MAX_BODY_BYTES} bytes")
    try:
        lines = body.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise MalformedReply("malformed response: body is not UTF-8") from None
    texts, reasonings, finish_reason, usage, pieces = [], [], None, None, 0
    events = [line for line in lines if line.startswith("data:")]  # not ": ping" comments
    if not events:
        raise EmptyStream("malformed response: the stream ended before its first event")
    for line in events:
        data = line[5:].strip()
        if data == "[DONE]":
            break
        event = parse_json(data.encode("utf-8"))
        choices = event.get("choices") if isinstance(event, dict) else None
        if not isinstance(choices, list):
            raise MalformedReply("malformed response: stream event without choices")
        if isinstance(event.get("usage"), dict):
            usage = event["usage"]
        if not choices:
            continue  # a usage-only event
        choice = choices[0]
        if not isinstance(choice, dict):
            raise MalformedReply("malformed response: stream choice is not an object")
        piece, reasoning = _choice_text(choice, endpoint, "delta", "")
        if endpoint != "completions":
            reasonings.append(reasoning)
        if piece:
            texts.append(piece)
            pieces += 1
        if choice.get("finish_reason") is not None:
            finish_reason = _text(choice.get("finish_reason"), "finish_reason", "stop")
    if finish_reason is None or len(finish_reason) > 40:
        raise MalformedReply("malformed response: the stream ended without a finish_reason "
                             "(cut short, e.g. by another request to a one-slot server)")
    reasoning = "".join(reasonings) or None
    counts = usage or {}
    return ReplyParts(text="".join(texts), reasoning=reasoning, finish_reason=finish_reason,
                      prompt_tokens=_count(counts, "prompt_tokens"),
                      completion_tokens=_count(counts, "completion_tokens") if usage else pieces)
