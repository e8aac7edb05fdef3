"""The first code that runs inside a sandboxed child interpreter (``python -I -S sandbox_boot.py``).

It is started by :mod:`star1.eval.graders.sandbox`, uses the standard library only, and takes its
settings as one JSON argument. Before any untrusted code runs, it sets hard resource limits
(address space, CPU time, file size, open files, processes), drops root to ``nobody`` where the
parent asked for it, enters the working directory and installs an audit hook (PEP 578; it cannot
be removed). The hook is the second layer, inside the process; the first is the namespace
sandbox around the process (see the parent module). It refuses:

* writes outside the working directory, however the path is named: relative to a ``dir_fd`` that
  points elsewhere, through ``/proc/self/fd``, via symlinks (paths are resolved first);
* opening a directory outside the working directory at all (such a descriptor is what an
  ``os.open(..., dir_fd=fd)`` or an ``opener=`` escape needs), and any ``chdir`` (the working
  directory stays the work dir's root, the point a relative path is checked from);
* reading ``/proc/<pid>/...`` of any other process (their environment, memory, descriptors);
* every socket operation, new processes (fork, exec, spawn, subprocess, kill);
* C extensions loaded from anywhere but the interpreter's own standard library, and the modules
  that write files or run native code without an audit event (ctypes, readline, dbm, sqlite3, …);
* ``gc.get_objects`` and friends, which would hand the program the hook itself.

Roles (``role`` in the settings):

``run``
    Run one program. A one-time token is read from stdin (stdin is then closed) and printed as the
    last line when the program returns. This only catches accidental early exits: the program
    can read the token from its own memory, so graders use ``serve`` + ``check`` instead.
``serve``
    The candidate side of a graded run: run the candidate program, then answer calls of its entry
    point that arrive as length-prefixed JSON frames on one pipe, replying on another. Only plain
    data (None, bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset) crosses.
``check``
    The harness side, in a second, separate sandbox: read the harness source (the problem's
    prompt and tests, never the candidate's code) from stdin, bind the entry point to a proxy that
    forwards every call to ``serve``, call ``check(proxy)``, and only when it returns write the
    verdict, with the parent's nonce, to a pipe that exists in this process alone.
"""

from __future__ import annotations

import builtins
import json
import linecache
import os
import resource
import runpy
import struct
import sys
import traceback

BLOCKED_MODULES = frozenset({
    "ctypes", "_ctypes", "_posixsubprocess", "cffi", "_cffi_backend",
    # These write files or open sockets from C without an audit event of their own.
    "readline", "dbm", "_dbm", "_gdbm", "sqlite3", "_sqlite3", "tkinter", "_tkinter", "syslog",
    "_multiprocessing", "_posixshmem",
    # Raw memory access would let a program rewrite the hook.
    "_testcapi", "_testinternalcapi", "_testbuffer", "_xxsubinterpreters", "_xxinterpchannels",
})
PROCESS_EVENTS = frozenset({
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "subprocess.Popen", "os.kill", "os.killpg", "pty.spawn", "resource.setrlimit",
    "resource.prlimit", "sqlite3.connect", "os.startfile", "webbrowser.open",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents",
})
# event -> (positions of path arguments that must stay inside, positions of dir_fd arguments);
# the argument layouts are CPython's (checked against 3.9-3.12).
PATH_EVENTS = {
    "os.remove": ((0,), (1,)), "os.rmdir": ((0,), (1,)), "os.mkdir": ((0,), (2,)),
    "os.rename": ((0, 1), (2, 3)), "os.link": ((0, 1), (2, 3)), "os.symlink": ((0, 1), (2,)),
    "os.chmod": ((0,), (2,)), "os.chown": ((0,), (3,)), "os.utime": ((0,), (3,)),
    "os.truncate": ((0,), ()), "shutil.rmtree": ((0,), (1,)), "os.setxattr": ((0,), ()),
    "os.removexattr": ((0,), ()), "os.chflags": ((0,), ()), "os.lchflags": ((0,), ()),
    "os.lchmod": ((0,), ()), "os.mkfifo": ((0,), (2,)), "os.mknod": ((0,), (3,)),
    "os.chroot": ((0,), ()),
}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
DIR_FLAGS = getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_PATH", 0)
HARNESS = "<harness>"  # the file name of the harness in tracebacks
MAX_FRAME = 16 << 20  # one call or reply; more is refused as a protocol error
SAFE_EXCEPTIONS = {name for name, value in vars(builtins).items()
                   if isinstance(value, type) and issubclass(value, Exception)}


def _set_limits(memory_bytes: int, cpu_seconds: int, file_bytes: int, processes: int) -> None:
    for name, value in (("RLIMIT_AS", memory_bytes), ("RLIMIT_CPU", cpu_seconds),
                        ("RLIMIT_FSIZE", file_bytes), ("RLIMIT_NOFILE", 64),
                        ("RLIMIT_CORE", 0), ("RLIMIT_NPROC", processes)):
        if value > 0 and hasattr(resource, name):
            resource.setrlimit(getattr(resource, name), (value, value))


def _drop_root(uid: int) -> None:
    if os.geteuid() != 0 or uid < 0:
        return
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _make_hook(workdir: str, import_roots: tuple):
    # Everything the hook needs is bound now, so the program cannot swap it out later.
    realpath, join, isabs, fspath, getcwd, isdir, readlink, getpid = (
        os.path.realpath, os.path.join, os.path.isabs, os.fspath, os.getcwd, os.path.isdir,
        os.readlink, os.getpid)
    root = realpath(workdir)
    prefix = root + os.sep
    blocked_modules, process_events, path_events = BLOCKED_MODULES, PROCESS_EVENTS, PATH_EVENTS
    write_flags, dir_flags = WRITE_FLAGS, DIR_FLAGS
    roots = tuple(realpath(r) + os.sep for r in import_roots)

    def resolve(path):
        """The absolute, symlink-free path, or None when it cannot be told."""
        if isinstance(path, int):
            try:  # an open descriptor: where it points
                path = readlink(f"/proc/self/fd/{path}")
            except OSError:
                return None
        try:
            text = fspath(path)
        except TypeError:
            return None
        if isinstance(text, bytes):
            text = text.decode("utf-8", "surrogateescape")
        return realpath(text if isabs(text) else join(getcwd(), text))

    def inside(path) -> bool:
        full = resolve(path)
        return full is not None and (full == root or full.startswith(prefix))

    def other_process(full: str) -> bool:
        parts = full.split("/")
        return len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() and int(parts[2]) != getpid()

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (list(args) + [None, None, 0])[:3]
            if isinstance(path, int):
                return  # reopening a descriptor the process already holds
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags)
            full = resolve(path)
            if full is None or full == root or full.startswith(prefix):
                return
            if writing:
                raise PermissionError(f"sandbox: writing outside the work dir is not allowed: {path!r}")
            if (isinstance(flags, int) and flags & dir_flags) or isdir(full):
                raise PermissionError(f"sandbox: opening a directory outside the work dir is not allowed: {path!r}")
            if other_process(full):
                raise PermissionError(f"sandbox: reading another process is not allowed: {path!r}")
        elif event.startswith("socket."):
            raise PermissionError(f"sandbox: network access is not allowed ({event})")
        elif event in process_events or event.startswith("os.exec") or event.startswith("os.spawn"):
            raise PermissionError(f"sandbox: {event} is not allowed")
        elif event == "import" and args:
            if args[0] in blocked_modules or str(args[0]).partition(".")[0] in blocked_modules:
                raise ImportError(f"sandbox: importing {args[0]} is not allowed")
            if len(args) > 1 and args[1] is not None:  # a C extension being loaded from a file
                full = resolve(args[1])
                if full is None or not full.startswith(roots):
                    raise ImportError(f"sandbox: loading an extension module from {args[1]!r} is not allowed")
        elif event == "os.chdir":
            # The working directory stays the work dir's root, the shallowest point inside: a
            # relative path that resolves inside from there resolves inside from any dir_fd too.
            if not args or resolve(args[0]) != root:
                raise PermissionError("sandbox: changing the working directory is not allowed")
        elif event.startswith("ctypes."):
            raise PermissionError(f"sandbox: {event} is not allowed")
        elif event in path_events:
            paths, dir_fds = path_events[event]
            for index in dir_fds:
                if index < len(args) and args[index] not in (None, -1) and not inside(args[index]):
                    raise PermissionError(f"sandbox: {event} relative to a directory outside the work dir "
                                          "is not allowed")
            for index in paths:
                if index < len(args) and args[index] is not None and not inside(args[index]):
                    raise PermissionError(f"sandbox: {event} outside the work dir is not allowed")

    return hook


# --- the call protocol between ``check`` and ``serve`` ---------------------------------------


class ProtocolError(Exception):
    """A frame from the other sandbox that is not a well-formed message."""


class CandidateError(Exception):
    """The candidate raised an exception that is not one of Python's built-in ones."""


def encode(value, depth: int = 0):
    """Plain data as JSON-ready values; containers other than list are tagged one-key dicts."""
    if depth > 100:
        raise ValueError("the value is nested too deeply to pass between the sandboxes")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, complex):
        return {"complex": [value.real, value.imag]}
    if isinstance(value, bytes):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"tuple": [encode(v, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if isinstance(value, frozenset):
        return {"frozenset": [encode(v, depth + 1) for v in value]}
    if isinstance(value, set):
        return {"set": [encode(v, depth + 1) for v in value]}
    raise TypeError(f"a {type(value).__name__} cannot be passed between the sandboxes (plain data only)")


def decode(obj):
    """The inverse of :func:`encode`; builds nothing but built-in types, whatever the input."""
    kind = type(obj)
    if obj is None or kind in (bool, int, float, str):
        return obj
    if kind is list:
        return [decode(v) for v in obj]
    if kind is dict and len(obj) == 1:
        [(tag, body)] = obj.items()
        if tag == "bytes" and type(body) is str:
            return bytes.fromhex(body)
        if tag == "complex" and type(body) is list and len(body) == 2 and all(type(x) in (int, float) for x in body):
            return complex(body[0], body[1])
        if type(body) is list:
            if tag == "tuple":
                return tuple(decode(v) for v in body)
            if tag == "set":
                return {decode(v) for v in body}
            if tag == "frozenset":
                return frozenset(decode(v) for v in body)
            if tag == "dict" and all(type(p) is list and len(p) == 2 for p in body):
                return {decode(k): decode(v) for k, v in body}
    raise ProtocolError(f"not a value this protocol carries: {str(obj)[:80]}")


def send(fd: int, message: dict) -> None:
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    data = struct.pack(">I", len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def receive(fd: int) -> dict | None:
    """The next message, or None at end of stream."""
    header = _read_exactly(fd, 4)
    if header is None:
        return None
    (size,) = struct.unpack(">I", header)
    if size > MAX_FRAME:
        raise ProtocolError(f"a message of {size} bytes is over the {MAX_FRAME}-byte limit")
    body = _read_exactly(fd, size)
    if body is None:
        raise ProtocolError("the stream ended inside a message")
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"a message is not JSON: {exc}") from None
    if type(message) is not dict:
        raise ProtocolError("a message is not a JSON object")
    return message


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def serve(program: str, entry: str, requests: int, replies: int) -> int:
    namespace = runpy.run_path(program, run_name="__sandbox__")
    function = namespace.get(entry)
    while True:
        message = receive(requests)
        if message is None:
            return 0
        try:
            if not callable(function):
                raise NameError(f"the program does not define a function {entry!r}")
            value = function(*decode(message["args"]), **decode(message["kwargs"]))
            reply = {"value": encode(value)}
        except BaseException as exc:  # noqa: BLE001 - any failure of the candidate is an answer
            print_error(exc, program)
            reply = {"error": {"type": type(exc).__name__, "message": str(exc)[:500]}}
        send(replies, reply)


def make_proxy(entry: str, requests: int, replies: int):
    def candidate(*args, **kwargs):
        gone = "the candidate program ended before it answered (see its stderr)"
        try:
            send(requests, {"args": encode(list(args)), "kwargs": encode(dict(kwargs))})
        except BrokenPipeError:
            raise ProtocolError(gone) from None
        reply = receive(replies)
        if reply is None:
            raise ProtocolError(gone)
        if "error" in reply:
            error = reply["error"] if type(reply["error"]) is dict else {}
            name, text = str(error.get("type", "?")), str(error.get("message", ""))[:500]
            cls = getattr(builtins, name) if name in SAFE_EXCEPTIONS else CandidateError
            raise cls(f"the candidate raised {name}: {text}")
        if "value" not in reply:
            raise ProtocolError("a reply holds neither a value nor an error")
        return decode(reply["value"])

    candidate.__name__ = candidate.__qualname__ = entry
    return candidate


def check(harness: str, entry: str, call: str, requests: int, replies: int) -> None:
    namespace = {"__name__": "__sandbox_check__", "__builtins__": builtins}
    lines = harness.splitlines(keepends=True)
    linecache.cache[HARNESS] = (len(harness), None, lines, HARNESS)  # tracebacks show the failed assert
    # The harness is the benchmark's own prompt and test code, sent by the parent; never model output.
    exec(compile(harness, HARNESS, "exec"), namespace)  # the benchmark's own tests (see above), never model output
    proxy = make_proxy(entry, requests, replies)
    namespace[entry] = proxy  # the prompt's helpers and the tests call the candidate by name too
    namespace[call](proxy)


def print_error(exc: BaseException, source: str) -> None:
    """The traceback of ``exc`` on stderr, shortened to the frames of the program or harness
    (``source``), as those are what a reader of the grade needs."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = traceback.StackSummary.from_list([f for f in frames if f.filename == source])
    lines = ["Traceback (most recent call last):\n", *own.format()] if len(own) else []
    sys.stderr.write("".join(lines + traceback.format_exception_only(type(exc), exc)))


def main() -> int:
    config = json.loads(sys.argv[1])
    role, workdir = config["role"], config["workdir"]
    stdin_text = sys.stdin.read() if role in ("run", "check") else ""
    sys.stdin.close()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - fd 0 is /dev/null now
    stdout_fd = os.dup(1)
    fds = config.get("fds", {})
    import_roots = tuple(p for p in sys.path if p and os.path.isdir(p))
    _set_limits(config["memory_mb"] << 20, config["cpu_s"], config["file_mb"] << 20, config["processes"])
    _drop_root(config["drop_uid"])
    os.chdir(workdir)
    os.environ.update(HOME=workdir, TMPDIR=workdir, TMP=workdir, TEMP=workdir)
    if config["audit_hook"]:
        sys.addaudithook(_make_hook(workdir, import_roots))
    del sys.argv[1:]
    token, _, harness = stdin_text.partition("\n")
    try:
        if role == "serve":
            return serve(config["program"], config["entry"], fds["requests"], fds["replies"])
        if role == "check":
            check(harness, config["entry"], config["call"], fds["requests"], fds["replies"])
            send(fds["verdict"], {"nonce": token, "passed": True})
            return 0
        runpy.run_path(config["program"], run_name="__sandbox__")
    except SystemExit as exc:
        print(f"sandbox: the program exited early (SystemExit {exc.code!r})", file=sys.stderr)
        return 1
    except BaseException as exc:  # noqa: BLE001 - any failure of the program under test is a failed run
        print_error(exc, HARNESS if role == "check" else config["program"])
        return 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass  # the program closed or replaced it; the token still goes to the saved fd
    os.write(stdout_fd, ("\n" + token + "\n").encode())
    return 0


if __name__ == "__main__":
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)  # skip atexit handlers the program may have registered
