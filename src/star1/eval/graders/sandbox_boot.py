"""The first code that runs inside a sandboxed child interpreter (``python -I sandbox_boot.py``).

It is started by :mod:`star1.eval.graders.sandbox` and uses the standard library only. Before the
program under test runs, it:

1. reads a one-time token from stdin and closes stdin, so the program never sees it;
2. sets hard resource limits (address space, CPU time, file size, open files, processes);
3. drops root to ``nobody`` when started as root, so file permissions protect the system;
4. enters the throw-away working directory and points HOME / TMPDIR at it;
5. installs an audit hook (PEP 578; it cannot be removed) that refuses writes outside the
   working directory, every socket operation, new processes (fork, exec, spawn, subprocess,
   kill) and the modules that would get around the hook (ctypes, _posixsubprocess).

Only when the program returns normally does it print the token as its last line; the parent
counts a run as passed only when it sees that token and exit status 0. A program that calls
``sys.exit(0)`` or ``os._exit(0)`` before its checks ran therefore fails.
"""

import os
import resource
import runpy
import sys
import traceback

BLOCKED_MODULES = frozenset({"ctypes", "_ctypes", "_posixsubprocess", "cffi", "_cffi_backend"})
PROCESS_EVENTS = frozenset({
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "subprocess.Popen", "os.kill", "os.killpg", "pty.spawn", "resource.setrlimit",
    "resource.prlimit", "sqlite3.connect", "os.startfile", "webbrowser.open",
})
PATH_EVENTS = {  # event -> positions of path arguments that must stay inside the work dir
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
    "os.chmod": (0,), "os.chown": (0,), "os.link": (0, 1), "os.symlink": (0, 1),
    "os.truncate": (0,), "os.utime": (0,), "shutil.rmtree": (0,), "os.setxattr": (0,),
    "os.removexattr": (0,), "os.chflags": (0,), "os.lchflags": (0,), "os.lchmod": (0,),
    "os.mkfifo": (0,), "os.mknod": (0,),
}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


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


def _make_hook(workdir: str):
    # Everything the hook needs is bound now, so the program cannot swap it out later.
    realpath, join, isabs, fspath, getcwd = (os.path.realpath, os.path.join, os.path.isabs,
                                             os.fspath, os.getcwd)
    root = realpath(workdir)
    prefix = root + os.sep
    blocked_modules, process_events, path_events = BLOCKED_MODULES, PROCESS_EVENTS, PATH_EVENTS
    write_flags = WRITE_FLAGS

    def inside(path) -> bool:
        if isinstance(path, int):
            return True  # an already-open descriptor
        try:
            text = fspath(path)
        except TypeError:
            return False
        if isinstance(text, bytes):
            text = text.decode("utf-8", "surrogateescape")
        full = realpath(text if isabs(text) else join(getcwd(), text))
        return full == root or full.startswith(prefix)

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (list(args) + [None, None, 0])[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags)
            if writing and not inside(path):
                raise PermissionError(f"sandbox: writing outside the work dir is not allowed: {path!r}")
        elif event.startswith("socket."):
            raise PermissionError(f"sandbox: network access is not allowed ({event})")
        elif event in process_events or event.startswith("os.exec") or event.startswith("os.spawn"):
            raise PermissionError(f"sandbox: {event} is not allowed")
        elif event == "import" and args and args[0] in blocked_modules:
            raise ImportError(f"sandbox: importing {args[0]} is not allowed")
        elif event.startswith("ctypes."):
            raise PermissionError(f"sandbox: {event} is not allowed")
        elif event in path_events:
            for index in path_events[event]:
                if index < len(args) and args[index] is not None and not inside(args[index]):
                    raise PermissionError(f"sandbox: {event} outside the work dir is not allowed")

    return hook


def main() -> int:
    workdir, program = sys.argv[1], sys.argv[2]
    memory_mb, cpu_s, file_mb, processes, drop_uid = (int(v) for v in sys.argv[3:8])
    token = sys.stdin.readline().strip()
    sys.stdin.close()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - fd 0 is /dev/null now
    stdout_fd = os.dup(1)
    _set_limits(memory_mb << 20, cpu_s, file_mb << 20, processes)
    _drop_root(drop_uid)
    os.chdir(workdir)
    os.environ.update(HOME=workdir, TMPDIR=workdir, TMP=workdir, TEMP=workdir)
    sys.addaudithook(_make_hook(workdir))
    del sys.argv[1:]
    try:
        runpy.run_path(program, run_name="__sandbox__")
    except SystemExit as exc:
        print(f"sandbox: the program exited early (SystemExit {exc.code!r})", file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - any failure of the program under test is a failed run
        traceback.print_exc()
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
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip atexit handlers the program may have registered
