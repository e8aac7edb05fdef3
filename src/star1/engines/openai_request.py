"""The body of one request to an OpenAI-compatible server, in the server's dialect."""

from __future__ import annotations

import json

from star1.engines import dialects
from star1.engines.base import ChatRequest


def build(request: ChatRequest, model: str, dialect: str, level: str, route: str, stream: bool,
          prompt: str | None = None) -> tuple[str, dict]:
    """``(path, body)``: the endpoint (``chat/completions`` or ``completions``) and its JSON body.

    ``level`` is the structured-output mode (:data:`star1.engines.endpoints.LEVELS`), ``route``
    how a prefill goes ("chat" with ``continue_final_message``, or "completions" with
    ``prompt``, rendered by star1 from the model's chat template and ending in the prefill)."""
    fields = dialects.sampling_fields(request.sampling, dialect)
    if route == "completions" and request.prefill:
        if prompt is None:
            raise ValueError("a /v1/completions prefill request needs its rendered prompt")
        body = {"model": model, "prompt": prompt, **fields}
        if stream:
            body["stream"] = True
        return "completions", body
    messages = list(request.messages)
    body: dict = {"model": model, "messages": messages, **fields}
    if request.prefill:
        # vLLM and SGLang continue a final assistant message with these flags.
        messages.append({"role": "assistant", "content": request.prefill})
        body.update(continue_final_message=True, add_generation_prompt=False)
    if stream:
        body["stream"] = True
    schema = request.json_schema
    if schema is not None and level == "json_schema":
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "answer", "schema": schema, "strict": True}}
    elif schema is not None and level == "json_object+schema":
        body["response_format"] = {"type": "json_object", "schema": schema}
    elif schema is not None and level == "json_object":
        body["response_format"] = {"type": "json_object"}
    return "chat/completions", body


def summary(body: dict) -> str:
    """A request in one line for ``-v`` logs: sizes and settings, not the prompt text."""
    messages = body.get("messages") or []
    chars = len(body.get("prompt") or "") + sum(len(json.dumps(m.get("content"))) for m in messages)
    settings = {k: v for k, v in body.items() if k not in ("messages", "prompt", "response_format")}
    fmt = (body.get("response_format") or {}).get("type")
    return f"{len(messages)} messages, {chars} chars, {settings}" + (f", response_format={fmt}" if fmt else "")
