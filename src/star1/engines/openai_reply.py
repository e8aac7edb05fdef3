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

from star1.redact import redact

log = logging.getLogger(__name__)

# A 32k-token answer is about 150 KB of JSON; 16 MiB leaves room for any real reply and stops
# a server streaming garbage from filling memory.
MAX_BODY_BYTES = 16 * 1024 * 1024
_SURROGATE = re.compile("[\ud800-\udfff]")


class MalformedReply(Exception):
    """The reply cannot be read; the message says what was wrong with it."""


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


def _count(usage: dict, name: str) -> int:
    value = usage.get(name)
    if value is None:
        return 0
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and isinstance(value, float):
        number = math.isfinite(value) and value == int(value)
    if not number or not 0 <= value <= 10**12:
        log.warning("server reported usage.%s=%s; counted as 0", name, redact(repr(value)[:80]))
        return 0
    return int(value)


def read_reply(payload, endpoint: str) -> ReplyParts:
    """Validate a chat (``message``) or text (``text``, /v1/completions) completion body."""
    if not isinstance(payload, dict):
        raise MalformedReply("malformed response: not a JSON object")
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedReply("malformed response: no choices")
    choice = choices[0]
    reasoning = None
    if endpoint == "completions":
        text = _text(choice.get("text"), "text", "")
    else:
        message = choice.get("message")
        if not isinstance(message, dict):
            raise MalformedReply("malformed response: choice has no message")
        text = _text(message.get("content"), "content", "")
        # DeepSeek and older vLLM: reasoning_content; newer vLLM: reasoning.
        reasoning = (_text(message.get("reasoning_content"), "reasoning_content", None)
                     or _text(message.get("reasoning"), "reasoning", None))
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
