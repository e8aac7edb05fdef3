"""A local OpenAI-compatible server on a real socket, for tests and benchmarks.

It speaks ``/v1/chat/completions``, ``/v1/completions`` and ``GET /v1/models`` and can misbehave
on purpose, the way real servers do. A *handler* receives the parsed request body and the request
number and returns a :class:`Reply`, which says what to send: a normal answer (optionally with
``reasoning_content``), an HTTP error with a body and headers (429 + Retry-After, a 401 that
echoes the key), a hang, a body dripped one byte at a time, a dropped connection, a malformed or
hostile body, or ``finish_reason: "length"``. Paths outside ``/v1/`` answer 404 as FastAPI does.

    with OpenAIStubServer(lambda body, n: Reply(content="hi")) as server:
        engine = make_engine(f"openai:stub@{server.base_url}")
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODELS = ({"id": "stub", "object": "model", "owned_by": "star1-stub"},)


@dataclass
class Reply:
    content: str = ""
    reasoning_content: Any = None  # any JSON value: a hostile server may send a number
    finish_reason: str = "stop"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a hang, when past the client timeout)
    drip: float = 0.0  # seconds between the body's bytes (a server that never quite finishes)
    raw_body: bytes | None = None  # sent as is (malformed JSON, say)
    json_body: Any = None  # sent as JSON as is (a well-formed but hostile reply)
    error: str | None = None  # the error message of a non-200 reply
    drop: bool = False  # close the connection without answering
    cut_stream: bool = False  # a streamed reply ends with [DONE] but no finish_reason (interrupted)
    prompt_tokens: Any = 10
    completion_tokens: Any = 5


Handler = Callable[[dict, int], Reply]


class _Server(ThreadingHTTPServer):
    # socketserver's backlog of 5 drops connections when 64 arrive at once on a loaded machine
    # (seen: 982 of 1,000 requests arrived); real servers listen with a deep backlog.
    request_queue_size = 256


class OpenAIStubServer:
    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0,
                 models: list[dict] | tuple[dict, ...] | None = DEFAULT_MODELS, pages: dict[str, Any] | None = None):
        """``models``: the /v1/models listing; None answers that path with 404. ``pages``: other
        GET paths and the JSON they answer (llama-server's ``/props``, say)."""
        self.handler = handler
        self.models = models
        self.pages = dict(pages or {})
        self.requests: list[dict] = []  # every parsed POST body, in arrival order
        self.raw_requests: list[bytes] = []  # the same bodies, byte for byte as they came
        self.paths: list[str] = []  # the path of each POST, same order
        self.headers: list[dict[str, str]] = []  # the HTTP headers of each POST, same order
        self.gets: list[str] = []  # the path of each GET
        self.abandoned = 0  # replies the client hung up on before they were complete
        self._lock = threading.Lock()
        self._server = _Server((host, port), self._make_handler())
        self._server.daemon_threads = True
        # A short poll interval: stop() waits for it, and tests start and stop many servers.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def root_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        """The port it listens on: a server restarted on it is the same endpoint (the call
        cache's identity of a self-hosted server includes where it is)."""
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def start(self) -> OpenAIStubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OpenAIStubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _make_handler(self):
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(self, status: int, payload: bytes, headers: dict | None = None, drip: float = 0.0) -> None:
                headers = {"content-type": "application/json", **(headers or {})}
                self.send_response(status)
                self.send_header("content-length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    if not drip:
                        self.wfile.write(payload)
                        return
                    for i in range(len(payload)):
                        self.wfile.write(payload[i:i + 1])
                        self.wfile.flush()
                        time.sleep(drip)
                        if self._client_gone():
                            raise ConnectionResetError
                except (BrokenPipeError, ConnectionResetError):
                    with server._lock:
                        server.abandoned += 1  # the client gave up first

            def _client_gone(self) -> bool:
                """The client closed its end (a readable socket with nothing to read)."""
                sock = self.connection
                sock.setblocking(False)
                try:
                    return sock.recv(1, socket.MSG_PEEK) == b""
                except BlockingIOError:
                    return False
                except OSError:
                    return True
                finally:
                    sock.setblocking(True)

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                with server._lock:
                    server.gets.append(self.path)
                if self.path.rstrip("/") == "/v1/models" and server.models is not None:
                    self._send(200, json.dumps({"object": "list", "data": list(server.models)}).encode())
                elif self.path in server.pages:
                    self._send(200, json.dumps(server.pages[self.path]).encode())
                else:
                    self._send(404, b'{"detail":"Not Found"}')

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                if not self.path.startswith("/v1/"):
                    self._send(404, b'{"detail":"Not Found"}')
                    return
                body = json.loads(raw or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.raw_requests.append(raw)
                    server.paths.append(self.path)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    number = len(server.requests)
                reply = server.handler(body, number)
                if reply.delay:
                    time.sleep(reply.delay)
                    if self._client_gone():
                        with server._lock:
                            server.abandoned += 1
                        return
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                if reply.raw_body is not None:
                    payload = reply.raw_body
                elif reply.json_body is not None:
                    payload = json.dumps(reply.json_body).encode()
                elif reply.status != 200:
                    payload = json.dumps({"error": {"message": reply.error or f"stub error {reply.status}",
                                                    "type": "stub"}}).encode()
                elif body.get("stream"):
                    payload = _events(body, reply, number, self.path)
                    self._send(200, payload, {"content-type": "text/event-stream", **reply.headers}, reply.drip)
                    return
                else:
                    payload = json.dumps(_body(body, reply, number, self.path)).encode()
                self._send(reply.status, payload, reply.headers, reply.drip)

        return RequestHandler


def _body(request: dict, reply: Reply, number: int, path: str) -> dict:
    if path.rstrip("/").endswith("/chat/completions"):
        message = {"role": "assistant", "content": reply.content}
        if reply.reasoning_content is not None:
            message["reasoning_content"] = reply.reasoning_content
        choice = {"index": 0, "message": message, "finish_reason": reply.finish_reason}
        kind = "chat.completion"
    else:  # /v1/completions: raw text in, raw text out
        choice = {"index": 0, "text": reply.content, "finish_reason": reply.finish_reason}
        kind = "text_completion"
    usage = {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens}
    if isinstance(reply.prompt_tokens, int) and isinstance(reply.completion_tokens, int):
        usage["total_tokens"] = reply.prompt_tokens + reply.completion_tokens
    return {
        "id": f"cmpl-stub-{number}",
        "object": kind,
        "created": int(time.time()),
        "model": request.get("model", "stub"),
        "choices": [choice],
        "usage": usage,
    }


def _events(request: dict, reply: Reply, number: int, path: str) -> bytes:
    """A streamed reply as llama-cpp-python sends it: one event per word, no usage, then a
    finish event and ``[DONE]``."""
    chat = path.rstrip("/").endswith("/chat/completions")
    words = [w for w in reply.content.replace(" ", "\0 ").split("\0") if w]

    def event(piece: str | None, finish: str | None) -> bytes:
        choice = ({"index": 0, "delta": {} if piece is None else {"content": piece}} if chat
                  else {"index": 0, "text": piece or ""})
        choice["finish_reason"] = finish
        chunk = {"id": f"cmpl-stub-{number}", "model": request.get("model", "stub"),
                 "object": "chat.completion.chunk" if chat else "text_completion", "choices": [choice]}
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    out = b"".join(event(w, None) for w in words)
    if not reply.cut_stream:
        out += event(None, reply.finish_reason)
    return out + b"data: [DONE]\n\n"
