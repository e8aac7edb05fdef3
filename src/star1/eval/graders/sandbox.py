"""Run untrusted Python in an isolated process, and grade code by a harness in a second one.

What it is: on Linux with bubblewrap (``bwrap``) working, an isolation boundary enforced by the
kernel, meant to hold against a program that attacks it on purpose. That is the only mode used
unless the caller names a weaker one: without a working bwrap, :func:`isolation_mode` refuses
(:class:`SandboxUnavailable`, saying how to install bubblewrap), never falls back. The weaker
modes carry ``unsafe-`` in their names, the user asks for them by that name (``star1 eval
--set sandbox=unsafe-unshare``), and every result names the mode it ran under. The modes:

``bwrap``
    New user, PID, network, mount, IPC, UTS and cgroup namespaces for each process. The program
    runs as uid 65534 with no capabilities and cannot create user namespaces. It is PID 1 of its
    own PID namespace, so it sees no other process, and it has its own ``/proc``. The file system
    is a fresh, read-only root with read-only views of ``/usr`` (and the ``/lib*``, ``/bin``
    links), the interpreter's prefix, the loader cache and this run's files. ``/proc/sys`` is
    hidden, a few global ``/proc`` trees are read-only, and ``/proc/keys`` and similar files are
    masked. ``/dev`` holds only null, zero, random and urandom. The only writable place is the
    work dir, a tmpfs of ``disk_mb`` (``/tmp`` links to it). The only network interface is a
    loopback that is down. The environment comes from an allow-list (``--clearenv``), and bwrap
    itself is started with that list. So neither ``os.environ``, ``/proc/self/environ`` nor
    ``/proc/1/environ`` holds anything of the parent. A seccomp filter (x86-64 and arm64)
    refuses clone, clone3, fork and vfork, so the program stays one process with one thread. It
    also refuses ptrace, process_vm_*, the key-ring calls (the keyring is not namespaced), mount,
    unshare, setns, bpf, perf_event_open, userfaultfd and io_uring.
``unsafe-unshare``
    Not a boundary against a hostile program: ``unshare`` gives new network and PID namespaces,
    and a private ``/proc`` where a mount namespace can be had. The file system is the host's. It is protected by the audit hook
    alone, or also by running as ``nobody`` where ``nobody`` can read the interpreter. The parent
    polls the total size of the work dir every 50 ms, on top of the per-file size limit.
``unsafe-rlimits-only``
    Not a boundary at all: a separate process with rlimits, the audit hook and the polled disk cap.

Every mode adds, inside the process, hard rlimits (address space, CPU time, file size, open
files; processes where it runs as ``nobody``) and a wall-clock limit that the parent enforces by
SIGKILL to the whole process group. The audit hook of :mod:`sandbox_boot` is a second layer. It
refuses writes outside the work dir however the path is named, opening outside directories,
other processes' ``/proc`` entries, sockets, new processes and native-code modules.

Verdicts (:func:`run_checked`). Whatever runs in the candidate's process can read and write
everything in that process, its memory, frames and descriptors included. So the verdict is not
produced there. The candidate's code runs in one sandbox (``serve``) and the problem's test code
in a second, separate one (``check``). The harness calls the candidate's entry point through a
pipe, one call at a time. Only plain data crosses: JSON with tagged tuples, sets and bytes, and
nothing that runs code when decoded. When ``check()`` returns, the harness writes the verdict
with a one-time nonce to a third pipe that exists only in the harness process. The nonce reaches
the harness on its stdin and never enters the candidate's sandbox. The parent counts a pass only
when that pipe carries the nonce and the harness exits 0. The candidate can print anything, exit
0 at any time or walk its frames, and none of it reaches the verdict. It does not see the tests
(the expected values), and it cannot return an object with a rigged ``__eq__``. What it does
control is what its function returns for each call, which is what the benchmark measures.

Limits of the design. The bwrap mode maps the sandbox user to the caller's uid outside (root in
CI), so the read-only mounts, the namespaces, seccomp and the missing capabilities protect the
host, not file ownership. A kernel bug in those is out of scope. The candidate still sees the
problem's prompt (it is part of its own program). In the ``unsafe-`` modes, a program that gets
past the audit hook (issue 21 did, twice) acts as the user the sandbox runs as: it reads what
that user reads (other processes' ``/proc/<pid>/environ`` included, when that user is the
grader's) and writes where it writes. Their outputs are redacted of the keys star1 knows and of
simple transforms of them (:func:`star1.redact.redact`), which is all that can be done there.

:func:`run_python` runs one program alone. Its "passed" means the program reached its last line
by its own account (a one-time token on stdout), which a hostile program can fake. Use it for
programs that are merely buggy, never for grading.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TypeVar

from star1.errors import SetupError
from star1.eval.graders.sandbox_bwrap import BOX, BOX_WORK, bwrap_command, bwrap_path, has_size_cap, seccomp_filter
from star1.redact import clip, redact

BOOT = Path(__file__).with_name("sandbox_boot.py")
NOBODY_UID = 65534
MODES = ("bwrap", "unsafe-unshare", "unsafe-rlimits-only")
UNSAFE_MODES = MODES[1:]  # only ever used when asked for by name
INSTALL_BWRAP = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)"
CHILD_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}  # the whole environment of a sandbox
DISK_POLL_S = 0.05  # unshare / rlimits-only: how often the parent checks the work dir's size
T = TypeVar("T")
log = logging.getLogger(__name__)


class SandboxUnavailable(SetupError):
    """The isolation mode asked for does not work on this machine; the message says what to do."""


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 10.0  # wall clock, enforced by the parent
    memory_mb: int = 1024  # address space of the child interpreter
    file_mb: int = 16  # largest file (and stdout) the program may write
    disk_mb: int = 64  # all files of the work dir together
    processes: int = 64  # RLIMIT_NPROC, only when running as 'nobody' (bwrap: seccomp allows none)
    output_chars: int = 4000  # tail of stdout / stderr kept in the result
    drop_root: bool = True  # unshare / rlimits-only: run as 'nobody' when started as root
    isolation: str = "bwrap"  # one of MODES; the unsafe ones only when the user named them
    audit_hook: bool = True  # the in-process second layer; off only to test the outer one alone


@dataclass
class SandboxResult:
    status: str  # "passed" | "failed" | "timeout" | "killed"
    returncode: int | None
    seconds: float
    stdout: str
    stderr: str
    isolation: str  # one of MODES: the isolation this program ran under

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        return asdict(self)


# --- detection -------------------------------------------------------------------------------


def interpreter() -> str:
    """The real interpreter behind ``sys.executable`` (a venv's ``python`` is a link to it)."""
    return os.path.realpath(sys.executable)


@lru_cache(maxsize=1)
def namespace_prefix() -> tuple[str, ...]:
    """The ``unshare`` command that works on this machine, or () when none does."""
    exe = shutil.which("unshare")
    if not exe:
        return ()
    base = ("--net", "--pid", "--fork", "--kill-child")
    for extra in (("--mount", "--mount-proc"), (), ("--user", "--map-root-user", "--mount", "--mount-proc"),
                  ("--user", "--map-root-user")):
        command = (exe, *extra, *base, "--")
        try:
            probe = subprocess.run([*command, "true"], capture_output=True, timeout=10, env=CHILD_ENV)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return command
    return ()


@lru_cache(maxsize=1)
def can_drop_root() -> bool:
    """True when we are root and the interpreter still works as 'nobody' (its stdlib is readable).

    A Python installed under a private home directory (e.g. pyenv in /root) is not readable by
    'nobody'; the program then keeps its user and relies on the other layers.
    """
    if os.geteuid() != 0:
        return False
    probe = (f"import os; os.setgroups([]); os.setgid({NOBODY_UID}); os.setuid({NOBODY_UID}); "
             "import hashlib, json, collections, fractions")
    try:
        return subprocess.run([interpreter(), "-I", "-S", "-c", probe], capture_output=True,
                              timeout=30, cwd="/", env=CHILD_ENV).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@cache
def probe(mode: str) -> str | None:
    """Why ``mode`` does not run a program here, or None when it does: one real run, cached."""
    if mode == "bwrap" and not bwrap_path():
        return "bwrap is not installed"
    if mode == "unsafe-unshare" and not namespace_prefix():
        return "unshare cannot create network and PID namespaces here"
    result = _run_python("print('sandbox-probe')", SandboxLimits(timeout_s=30), mode)
    if result.passed and "sandbox-probe" in result.stdout:
        return None
    return f"a test program {result.status}: {clip(' '.join(result.stderr.split()), 300, tail=True) or 'no output'}"


def mode_works(mode: str) -> bool:
    return probe(mode) is None


def isolation_mode(requested: str = "bwrap") -> str:
    """``requested`` when it works here; else :class:`SandboxUnavailable`. Nothing falls back: a
    weaker mode runs only when it is the one requested."""
    if requested not in MODES:
        raise SandboxUnavailable(f"unknown sandbox {requested!r}; use one of {', '.join(MODES)}")
    if requested == "unsafe-rlimits-only" or mode_works(requested):
        if requested in UNSAFE_MODES:
            _warn_unsafe(requested)
        return requested
    if requested == "bwrap":
        raise SandboxUnavailable(
            f"model-written code is graded only inside bubblewrap, and {probe('bwrap')}: "
            f"{INSTALL_BWRAP}. To grade without that boundary anyway (a hostile completion can then "
            "read and write your files), ask for it by name: --set sandbox=unsafe-unshare (see docs/eval.md)")
    raise SandboxUnavailable(f"sandbox {requested!r} does not work here: {probe(requested)}")


@cache
def _warn_unsafe(mode: str) -> None:
    log.warning("sandbox: %s, as asked: model-written code runs WITHOUT an isolation boundary "
                "(docs/eval.md)", mode)


# --- launching -------------------------------------------------------------------------------


@dataclass
class _Child:
    proc: subprocess.Popen
    scratch: Path  # on this machine: stdout, stderr, and the program's files
    workdir: Path | None  # on this machine, its size polled; None: a size-capped tmpfs inside bwrap


def _spawn(mode: str, config: dict, files: dict[str, str], limits: SandboxLimits, pass_fds: Sequence[int],
           stdin: int) -> _Child:
    """Start the boot script with ``config`` in a new sandbox, ``files`` beside it."""
    scratch = Path(tempfile.mkdtemp(prefix="star1-sandbox-"))
    paths = config.pop("paths", {})  # setting -> file name in ``files``: passed as paths inside
    config = {**config, "memory_mb": limits.memory_mb, "cpu_s": max(1, int(limits.timeout_s) + 1),
              "file_mb": limits.file_mb, "audit_hook": limits.audit_hook}
    python = [interpreter(), "-I", "-S", "-B", "-X", "utf8"]
    seccomp_r = None
    try:
        if mode == "bwrap":
            box = scratch / "box"
            box.mkdir()
            shutil.copyfile(BOOT, box / "boot.py")
            for name, text in files.items():
                (box / name).write_text(text, encoding="utf-8")
            config.update(workdir=BOX_WORK, processes=0, drop_uid=-1,
                          **{key: f"{BOX}/{name}" for key, name in paths.items()})
            bpf = seccomp_filter()
            if bpf is not None:
                seccomp_r, seccomp_w = os.pipe()
                os.write(seccomp_w, bpf)  # a few hundred bytes: fits the pipe buffer
                os.close(seccomp_w)
                pass_fds = [*pass_fds, seccomp_r]
            workdir = None if has_size_cap() else scratch / "work"  # None: a capped tmpfs inside
            if workdir is not None:
                workdir.mkdir()
            command = bwrap_command(str(box), [*python, f"{BOX}/boot.py", json.dumps(config)],
                                    limits.disk_mb << 20, {**CHILD_ENV, "HOME": BOX_WORK, "TMPDIR": BOX_WORK},
                                    seccomp_r, None if workdir is None else str(workdir))
            cwd = "/"
        else:
            prefix = namespace_prefix() if mode == "unsafe-unshare" else ()
            drop = limits.drop_root and "--user" not in prefix and can_drop_root()
            workdir = scratch / "work"
            workdir.mkdir()
            for name, text in files.items():
                (workdir / name).write_text(text, encoding="utf-8")
            if drop:
                scratch.chmod(0o711)  # 'nobody' may pass through to its work dir, but not list or write here
                os.chown(workdir, NOBODY_UID, NOBODY_UID)
                for name in files:
                    os.chown(workdir / name, NOBODY_UID, NOBODY_UID)
            workdir.chmod(0o700)
            config.update(workdir=str(workdir), drop_uid=NOBODY_UID if drop else -1,
                          # RLIMIT_NPROC counts every process of the user: only meaningful for 'nobody'.
                          processes=limits.processes if drop else 0,
                          **{key: str(workdir / name) for key, name in paths.items()})
            command = [*prefix, *python, str(BOOT), json.dumps(config)]
            cwd = str(workdir)
        with open(scratch / "stdout", "wb") as out, open(scratch / "stderr", "wb") as err:
            # bwrap itself gets the allow-listed environment too: it is /proc/1/environ inside.
            proc = subprocess.Popen(command, stdin=stdin, stdout=out, stderr=err, env=CHILD_ENV,
                                    cwd=cwd, start_new_session=True, pass_fds=tuple(pass_fds))
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    finally:
        if seccomp_r is not None:
            os.close(seccomp_r)
    return _Child(proc, scratch, workdir)


def _disk_usage(path: Path) -> int:
    total = 0
    for folder, dirs, names in os.walk(path):
        for name in names + dirs:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                pass  # removed meanwhile
    return total


def _wait(children: Sequence[_Child], fd: int | None, deadline: float, limits: SandboxLimits,
          sink: bytearray | None = None) -> str | None:
    """Block until ``fd`` says the run is over: a pidfd turns readable when its process exits; a
    pipe (``sink`` collects what it carries) reaches end of stream when its writer exits. Without
    a pidfd, poll the first child. Returns None, or why the run was stopped: "timeout" / "disk"."""
    polled = any(c.workdir is not None for c in children)  # no tmpfs cap: the parent measures
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout"
        step = min(left, DISK_POLL_S) if polled or fd is None else left
        if fd is None:
            try:
                children[0].proc.wait(timeout=step)
                return None
            except subprocess.TimeoutExpired:
                pass
        elif select.select([fd], [], [], step)[0]:
            if sink is None:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            sink += chunk[:4096 - len(sink)]
        for child in children:
            if child.workdir is not None and _disk_usage(child.workdir) > limits.disk_mb << 20:
                return "disk"


def _pidfd(proc: subprocess.Popen) -> int | None:
    try:
        return os.pidfd_open(proc.pid)  # Linux 5.3+
    except (AttributeError, OSError):
        return None


def _finish(child: _Child, limits: SandboxLimits) -> tuple[str, str]:
    """Kill whatever is left of the child, collect its output (redacted) and remove its files."""
    _kill_group(child.proc)
    try:
        return (redact(_tail(child.scratch / "stdout", limits.output_chars)),
                redact(_tail(child.scratch / "stderr", limits.output_chars)))
    finally:
        shutil.rmtree(child.scratch, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def _tail(path: Path, chars: int) -> str:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - chars * 4))
        return fh.read().decode("utf-8", "replace")[-chars:]


def _signalled(returncode: int | None, mode: str) -> bool:
    """Whether the program died of a signal (CPU time, file size). bwrap reports that as 128 + N."""
    if returncode is None:
        return False
    return returncode < 0 or (mode == "bwrap" and returncode > 128)


def _stopped(reason: str | None, limits: SandboxLimits) -> str:
    return {"timeout": f"sandbox: stopped after the {limits.timeout_s:g} s time limit",
            "disk": f"sandbox: stopped for writing more than {limits.disk_mb} MiB to its work dir"}.get(reason, "")


# --- public API ------------------------------------------------------------------------------


def run_python(source: str, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Run ``source`` as a program in a fresh sandbox; never raises for anything the program does.

    "passed" is the program's own account of having finished (see the module docstring)."""
    return _run_python(source, limits, isolation_mode(limits.isolation))


def _run_python(source: str, limits: SandboxLimits, mode: str) -> SandboxResult:
    token = secrets.token_hex(16)
    started = time.monotonic()
    child = _spawn(mode, {"role": "run", "paths": {"program": "program.py"}}, {"program.py": source},
                   limits, (), subprocess.PIPE)
    try:
        child.proc.stdin.write((token + "\n").encode())
        child.proc.stdin.close()
    except BrokenPipeError:
        pass
    pidfd = _pidfd(child.proc)
    try:
        stopped = _wait([child], pidfd, started + limits.timeout_s, limits)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    returncode = child.proc.poll()
    stdout, stderr = _finish(child, limits)
    seconds = time.monotonic() - started
    if stopped:
        status = "timeout" if stopped == "timeout" else "killed"
        stderr = (stderr + "\n" + _stopped(stopped, limits)).strip()
    elif returncode == 0 and token in stdout:
        status = "passed"
    elif _signalled(returncode, mode):
        status = "killed"  # by a signal: CPU or file-size limit
    else:
        status = "failed"
    return SandboxResult(status, returncode, round(seconds, 3), stdout.replace(token, "").rstrip(),
                         stderr, mode)


def run_checked(program: str, harness: str, entry: str, limits: SandboxLimits = SandboxLimits(),
                call: str = "check") -> SandboxResult:
    """Grade ``program`` (the candidate's code, defining ``entry``) with ``harness`` (test code
    defining ``call(candidate)``), each in its own sandbox; "passed" only when ``call`` returned
    in the harness's sandbox. ``stdout`` is the candidate's; ``stderr`` holds both sides'."""
    mode = isolation_mode(limits.isolation)
    nonce = secrets.token_hex(16)
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    ver_r, ver_w = os.pipe()
    parent_ends = [req_r, req_w, rep_r, rep_w, ver_w]
    started = time.monotonic()
    candidate = harness_child = None
    try:
        candidate = _spawn(mode, {"role": "serve", "entry": entry, "paths": {"program": "program.py"},
                                  "fds": {"requests": req_r, "replies": rep_w}},
                           {"program.py": program}, limits, (req_r, rep_w), subprocess.DEVNULL)
        harness_child = _spawn(mode, {"role": "check", "entry": entry, "call": call,
                                      "fds": {"requests": req_w, "replies": rep_r, "verdict": ver_w}},
                               {}, limits, (req_w, rep_r, ver_w), subprocess.PIPE)
        for fd in parent_ends:
            os.close(fd)
        parent_ends = []
        try:
            harness_child.proc.stdin.write(f"{nonce}\n{harness}".encode())
            harness_child.proc.stdin.close()
        except BrokenPipeError:
            pass
        # The verdict pipe reaches end of stream when the harness exits (it is the only writer).
        verdict = bytearray()
        stopped = _wait([candidate, harness_child], ver_r, started + limits.timeout_s, limits, verdict)
        harness_rc = harness_child.proc.poll() if stopped else harness_child.proc.wait()
        passed = not stopped and harness_rc == 0 and _verdict_passed(bytes(verdict), nonce)
        candidate_rc = None
        if not passed and not stopped:
            # The candidate normally ends at once when the harness is gone (end of its requests).
            grace = max(0.0, min(1.0, started + limits.timeout_s - time.monotonic()))
            try:
                candidate_rc = candidate.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                candidate_rc = None
        out, cand_err = _finish(candidate, limits)
        _, harn_err = _finish(harness_child, limits)
        candidate = harness_child = None
    finally:
        for fd in parent_ends:
            os.close(fd)
        os.close(ver_r)
        for child in (candidate, harness_child):
            if child is not None:
                _finish(child, limits)
    seconds = time.monotonic() - started
    if stopped:
        status = "timeout" if stopped == "timeout" else "killed"
    elif passed:
        status = "passed"
    elif _signalled(candidate_rc, mode):
        status = "killed"  # by a signal: CPU or file-size limit
    else:
        status = "failed"
    stderr = "\n".join(part for part in (
        cand_err.strip() and "candidate:\n" + cand_err.strip(),
        harn_err.strip() and "harness:\n" + harn_err.strip(), _stopped(stopped, limits)) if part)
    return SandboxResult(status, harness_rc, round(seconds, 3), out.rstrip(), stderr[-limits.output_chars:], mode)


def _verdict_passed(data: bytes, nonce: str) -> bool:
    if len(data) < 4:
        return False
    try:
        message = json.loads(data[4:4 + struct.unpack(">I", data[:4])[0]].decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(message, dict) and message.get("nonce") == nonce and message.get("passed") is True


def run_parallel(jobs: Sequence[Callable[[], T]], workers: int = 2,
                 on_done: Callable[[int, T], None] | None = None) -> list[T]:
    """Run ``jobs`` (each starting its own sandboxes) in parallel; results in input order."""
    results: list = [None] * len(jobs)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(job): i for i, job in enumerate(jobs)}
        for future in futures:
            i = futures[future]
            results[i] = future.result()
            if on_done:
                on_done(i, results[i])
    return results


def run_many(sources: Sequence[str], limits: SandboxLimits = SandboxLimits(), workers: int = 2,
             on_done: Callable[[int, SandboxResult], None] | None = None) -> list[SandboxResult]:
    """:func:`run_python` for several programs, in parallel; results in input order."""
    return run_parallel([lambda s=s: run_python(s, limits) for s in sources], workers, on_done)
