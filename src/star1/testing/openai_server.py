"""A local OpenAI-compatible chat server on a real socket, for tests and benchmarks.

It speaks the ``/v1/chat/completions`` protocol and can misbehave on purpose. A *handler*
receives the parsed request body and the request number and returns a :class:`Reply`; the
reply says what to send: a normal answer (optionally with ``reasoning_content``), an HTTP
error with headers (429 + Retry-After), a hang past the client's timeout, a dropped connection,
a malformed body, or ``finish_reason: "length"``.

    with OpenAIStubServer(lambda body, n: Reply(content="hi")) as server:
        engine = make_engine(f"openai:stub@{server.base_url}")
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Reply:
    content: str = ""
    reasoning_content: str | None = None
    finish_reason: str = "stop"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a hang, when past the client timeout)
    raw_body: bytes | None = None  # sent as is (malformed JSON, say)
    drop: bool = False  # close the connection without answering
    prompt_tokens: int = 10
    completion_tokens: int = 5


Handler = Callable[[dict, int], Reply]


class OpenAIStubServer:
    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0):
        self.handler = handler
        self.requests: list[dict] = []  # every parsed request body, in arrival order
        self.headers: list[dict[str, str]] = []  # the HTTP headers of each request, same order
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._make_handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def start(self) -> "OpenAIStubServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "OpenAIStubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _make_handler(self):
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    number = len(server.requests)
                reply = server.handler(body, number)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                payload = reply.raw_body if reply.raw_body is not None else json.dumps(
                    _body(body, reply, number) if reply.status == 200 else
                    {"error": {"message": f"stub error {reply.status}", "type": "stub"}}).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (a hang past its timeout)

        return RequestHandler


def _body(request: dict, reply: Reply, number: int) -> dict:
    message = {"role": "assistant", "content": reply.content}
    if reply.reasoning_content is not None:
        message["reasoning_content"] = reply.reasoning_content
    return {
        "id": f"chatcmpl-stub-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "stub"),
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
        "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                  "total_tokens": reply.prompt_tokens + reply.completion_tokens},
    }
