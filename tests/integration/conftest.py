"""A real llama.cpp server (llama-cpp-python's ``python -m llama_cpp.server``) serving the bundled
SmolLM2-135M GGUF on 127.0.0.1, for tests that need a real OpenAI-compatible server.

Use ``llama_server`` (one per test session): ``llama_server.base_url`` and
``llama_server.engine(**options)`` give the engine string. ``start_llama_server`` starts another
one with its own settings (a small context window, say); stop it with ``.stop()``. Tests skip,
with the reason shown, only where ``llama_cpp`` cannot be imported (``make test`` installs it).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

MODEL_NAME = "smollm2"
START_TIMEOUT = 180  # seconds; loading the 135M GGUF takes about 2 s here


@dataclass
class LlamaServer:
    base_url: str
    model_path: str
    process: subprocess.Popen
    log_path: Path

    def engine(self, model: str = MODEL_NAME, **options) -> str:
        """``openai:<model>@<base_url>[?options]`` for this server."""
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"openai:{model}@{self.base_url}" + (f"?{query}" if query else "")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_llama_server(log_dir: Path, n_ctx: int = 4096, extra_args: tuple[str, ...] = ()) -> LlamaServer:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (`make test` installs it with "
                                            "CMAKE_ARGS=-DGGML_NATIVE=off); the real-server tests need it")
    from star1.engines.bundled import gguf_path

    model = str(gguf_path())
    port = _free_port()
    log_path = log_dir / f"llama-server-{port}.log"
    # One thread: with two, this 2-core machine (shared) was pathologically slow.
    command = [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
               "--port", str(port), "--n_threads", "1", "--n_ctx", str(n_ctx), *extra_args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # its log is read by tests while it runs
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", model, process, log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama.cpp server exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as reply:
                if reply.status == 200 and json.load(reply).get("data"):
                    return server
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.25)
    server.stop()
    pytest.fail(f"llama.cpp server did not answer /v1/models within {START_TIMEOUT}s:\n{server.log_tail()}")


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    server = start_llama_server(tmp_path_factory.mktemp("llama-server"))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _own_endpoint_facts(tmp_path, monkeypatch):
    # Each test learns the server's dialect afresh (endpoints.json under its own cache dir), so
    # that one test's step-down or probe is not another test's starting point.
    monkeypatch.setenv("STAR1_CACHE_DIR", str(tmp_path / "star1-cache"))
