"""Rendering a chat template found through a server, inside a deadline and a memory bound.

star1 renders prompts for ``/v1/completions`` with the served model's chat template (a Jinja
program that came with the model, from wherever the server says it is). transformers renders it
in Jinja's sandbox, which keeps it from running code, but not from looping, recursing or filling
memory: a looping template held a build at 100% CPU past its request timeout, and raising,
malformed, memory-hungry templates and truncated GGUF files ended runs in tracebacks.

So the tokenizer is loaded, and every prompt rendered, in a worker process of its own
(``python -m star1.engines.template_worker <tokenizer>``), which star1 talks to over a pipe, one
JSON line each way. The worker's address space is capped (:data:`RENDER_MEMORY` above what the
loaded tokenizer uses; Linux), and a render that does not answer within the request's deadline
is stopped by killing the worker (the next render starts a new one). Every failure — the load,
the template raising, a syntax error, recursion, memory, the deadline, the worker dying — comes
back as a :class:`TemplateFailure` with one line that says what happened.

Starting the worker costs what loading the tokenizer in-process did (importing transformers:
6.2 s, loading SmolLM2's tokenizer 3.2 s on the shared 2-core machine); a render costs a pipe
round trip on top of the 12 ms the template takes.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

from star1.errors import SetupError
from star1.redact import clip, is_secret_name

LOAD_TIMEOUT = 300.0  # seconds to import transformers and load the tokenizer
LOAD_MEMORY = 4 << 30  # bytes of address space a tokenizer load may add (a GGUF's size on top)
RENDER_MEMORY = 1 << 30  # bytes of address space a render may add; real prompts need kilobytes
MAX_PROMPT_BYTES = 16 << 20  # a rendered prompt beyond this is the template's failure
HUB_TOKENS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


class TemplateFailure(Exception):
    """A chat template that could not be loaded or rendered; the message says why."""


class TemplateRenderer:
    """The parent's side: one worker process per tokenizer, used by one render at a time."""

    def __init__(self, name: str):
        self.name = name
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def start(self, timeout: float = LOAD_TIMEOUT) -> None:
        """Load the tokenizer in the worker now; :class:`SetupError` if it cannot be loaded."""
        with self._lock:
            try:
                self._ensure(time.monotonic() + timeout)
            except TemplateFailure as exc:
                raise SetupError(str(exc)) from None

    def render(self, messages, prefill: str, timeout: float) -> str:
        """The prompt: the chat template with its generation prompt, then ``prefill``. Waiting
        for another render, and the render itself, count against ``timeout``."""
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout=max(0.0, timeout)):
            raise TemplateFailure(f"{self._who()}: no render within timeout={timeout:g}s (others queued first)")
        try:
            self._ensure(time.monotonic() + LOAD_TIMEOUT)
            request = json.dumps({"messages": list(messages), "prefill": prefill}, ensure_ascii=True) + "\n"
            try:
                self._process.stdin.write(request.encode("ascii"))
                self._process.stdin.flush()
            except (BrokenPipeError, OSError):
                raise TemplateFailure(self._died()) from None
            reply = self._read(deadline, timeout)
            if "error" in reply:
                raise TemplateFailure(f"{self._who()}: {reply['error']}")
            prompt = reply.get("prompt")
            if not isinstance(prompt, str):
                raise TemplateFailure(f"{self._who()}: the worker answered without a prompt")
            return prompt
        finally:
            self._lock.release()

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None

    # -- the worker process --------------------------------------------------------------------

    def _who(self) -> str:
        return f"the chat template of tokenizer={self.name!r}"

    def _ensure(self, deadline: float) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        package_root = str(Path(__file__).resolve().parents[2])  # the folder that holds star1/
        # No API keys in the process that runs a template from elsewhere (the hub's own token
        # stays: a tokenizer named by hub id may be gated).
        env = {k: v for k, v in os.environ.items() if not is_secret_name(k) or k in HUB_TOKENS}
        env.update(TOKENIZERS_PARALLELISM="false", RAYON_NUM_THREADS="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "star1.engines.template_worker", self.name], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        reply = self._read(deadline, LOAD_TIMEOUT, loading=True)
        if "error" in reply:
            self.close()
            raise TemplateFailure(reply["error"])

    def _died(self) -> str:
        code = self._process.wait() if self._process is not None else None
        self._process = None
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return f"{self._who()}: the rendering process ended ({how})"

    def _read(self, deadline: float, timeout: float, loading: bool = False) -> dict:
        """One JSON line from the worker before ``deadline``; the worker is killed otherwise."""
        out = self._process.stdout.fileno()
        data = b""
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                what = "load the tokenizer" if loading else "render"
                raise TemplateFailure(f"{self._who()}: did not {what} within {timeout:g}s "
                                      f"({'the load limit' if loading else 'the request deadline'}); "
                                      "the rendering process was stopped")
            ready, _, _ = select.select([out], [], [], min(left, 0.5))
            if not ready:
                continue
            chunk = os.read(out, 1 << 20)
            if not chunk:
                raise TemplateFailure(self._died())
            data += chunk
            if len(data) > MAX_PROMPT_BYTES:
                self.close()
                raise TemplateFailure(f"{self._who()}: the rendered prompt is larger than "
                                      f"{MAX_PROMPT_BYTES >> 20} MiB; the rendering process was stopped")
        try:
            reply = json.loads(data)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            self.close()
            raise TemplateFailure(f"{self._who()}: the rendering process answered something unreadable")
        return reply


_renderers: dict[str, TemplateRenderer] = {}
_renderers_lock = threading.Lock()
KEPT_RENDERERS = 4  # worker processes kept at once; the oldest is stopped for a fifth


@atexit.register
def stop_all() -> None:
    """Stop every worker process (at exit; tests)."""
    with _renderers_lock:
        while _renderers:
            _renderers.popitem()[1].close()


def renderer(name: str) -> TemplateRenderer:
    """The one renderer of tokenizer ``name`` in this process."""
    with _renderers_lock:
        if name not in _renderers:
            if len(_renderers) >= KEPT_RENDERERS:
                _renderers.pop(next(iter(_renderers))).close()
            _renderers[name] = TemplateRenderer(name)
        return _renderers[name]


# -- the worker's side ---------------------------------------------------------------------------

def _address_space() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cap_memory(extra: int) -> None:
    """Cap this process's address space at what it uses now plus ``extra`` (Linux: elsewhere
    only the deadline applies). A render past it gets MemoryError, which is reported."""
    import resource

    used = _address_space()
    if used is None:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = used + extra if hard == resource.RLIM_INFINITY else min(used + extra, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return f"MemoryError: the template needed more than {RENDER_MEMORY >> 20} MiB"
    if isinstance(exc, RecursionError):
        return "RecursionError: the template recursed too deeply"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {clip(text, 300)}" if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    name = (argv if argv is not None else sys.argv[1:])[0]
    # The protocol gets a descriptor of its own; anything a library prints goes to stderr.
    channel = os.fdopen(os.dup(1), "w", encoding="ascii")
    os.dup2(2, 1)

    def send(obj: dict) -> None:
        channel.write(json.dumps(obj, ensure_ascii=True) + "\n")
        channel.flush()

    try:
        size = Path(name).stat().st_size if name.endswith(".gguf") else 0
    except OSError:
        size = 0
    _cap_memory(LOAD_MEMORY + size)  # counted once transformers is imported, below
    try:
        from star1.engines.chat_render import load_tokenizer, prepare

        tokenizer = load_tokenizer(name)
        prepare(tokenizer)
    except SetupError as exc:
        send({"error": str(exc)})
        return 1
    except Exception as exc:  # noqa: BLE001 - a hostile file may raise anything while loading
        send({"error": f"tokenizer={name!r}: cannot load it ({_describe(exc)})"})
        return 1
    _cap_memory(RENDER_MEMORY)
    send({"ready": True})
    from star1.engines.chat_render import render_prompt

    for line in sys.stdin:
        try:
            request = json.loads(line)
            prompt = render_prompt(tokenizer, request["messages"], request["prefill"])
        except Exception as exc:  # noqa: BLE001 - every template failure is reported, not raised
            send({"error": _describe(exc)})
            continue
        send({"prompt": prompt})
    return 0


if __name__ == "__main__":
    sys.exit(main())
