"""Run an untrusted Python program in a separate, limited process and report what happened.

Layers, from the outside in (each one holds even if an inner one is bypassed):

* a separate interpreter (``python -I``: no user site, no PYTHON* variables, no cwd on the path),
  in its own session so the whole process group can be killed;
* where ``unshare`` works (root, or unprivileged user namespaces): new network namespace (no
  interface but a down loopback, so no network) and new PID namespace (when its first process
  dies, the kernel kills every process left in it: fork bombs end with the run);
* a wall-clock limit enforced by the parent (SIGKILL to the group), plus a CPU-time limit;
* hard rlimits on address space, file size, open files and processes;
* when started as root, the program runs as ``nobody`` in a throw-away directory it owns;
* an audit hook inside the child (see :mod:`sandbox_boot`) that refuses writes outside the
  directory, sockets, new processes and ctypes.

This is a guard against the accidents of benchmark code (infinite loops, runaway memory, stray
file writes, forking), not a security boundary against a deliberate attacker: evaluate
adversarial models inside a container or VM as well.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

BOOT = Path(__file__).with_name("sandbox_boot.py")
NOBODY_UID = 65534


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 10.0  # wall clock, enforced by the parent
    memory_mb: int = 1024  # address space of the child interpreter
    file_mb: int = 16  # largest file (and stdout) the program may write
    processes: int = 64  # RLIMIT_NPROC, applied only when the program runs as 'nobody'
    output_chars: int = 4000  # tail of stdout / stderr kept in the result
    drop_root: bool = True  # run as 'nobody' when started as root


@dataclass
class SandboxResult:
    status: str  # "passed" | "failed" | "timeout" | "killed"
    returncode: int | None
    seconds: float
    stdout: str
    stderr: str
    isolation: str  # which namespace layer was available

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=1)
def namespace_prefix() -> tuple[str, ...]:
    """The ``unshare`` command that works on this machine, or () when none does."""
    exe = shutil.which("unshare")
    if not exe:
        return ()
    base = ("--net", "--pid", "--fork", "--kill-child")
    for extra in ((), ("--user", "--map-root-user")):
        command = (exe, *extra, *base, "--")
        try:
            probe = subprocess.run([*command, "true"], capture_output=True, timeout=10)
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
    probe = ("import os; os.setgroups([]); os.setgid(%d); os.setuid(%d); "
             "import pkgutil, hashlib, json, collections, fractions" % (NOBODY_UID, NOBODY_UID))
    try:
        return subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True,
                              timeout=30, cwd="/").returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def isolation_name(prefix: Sequence[str], dropped: bool) -> str:
    layers = ["process", "rlimits", "audit-hook"]
    if prefix:
        layers.insert(1, "net+pid namespaces" + (" (user ns)" if "--user" in prefix else ""))
    if dropped:
        layers.append("uid nobody")
    return "+".join(layers)


def run_python(source: str, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Run ``source`` as a program in a fresh sandbox; never raises for anything the program does."""
    prefix = namespace_prefix()
    drop = limits.drop_root and "--user" not in prefix and can_drop_root()
    drop_uid = NOBODY_UID if drop else -1
    token = secrets.token_hex(16)
    scratch = Path(tempfile.mkdtemp(prefix="star1-sandbox-"))
    workdir = scratch / "work"
    workdir.mkdir()
    program = workdir / "program.py"
    program.write_text(source, encoding="utf-8")
    if drop_uid >= 0:
        scratch.chmod(0o711)  # 'nobody' may pass through to its work dir, but not list or write here
        os.chown(workdir, drop_uid, drop_uid)
        os.chown(program, drop_uid, drop_uid)
    workdir.chmod(0o700)
    cpu = max(1, int(limits.timeout_s) + 1)
    command = [*prefix, sys.executable, "-I", "-B", str(BOOT), str(workdir), str(program),
               str(limits.memory_mb), str(cpu), str(limits.file_mb),
               # RLIMIT_NPROC counts every process of the user: only meaningful for 'nobody'.
               str(limits.processes if drop else 0),
               str(drop_uid)]
    env = {"PATH": os.defpath, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
    started = time.perf_counter()
    status = None
    try:
        with open(scratch / "stdout", "wb") as out, open(scratch / "stderr", "wb") as err:
            proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=out, stderr=err, env=env,
                                    cwd=workdir, start_new_session=True)
            try:
                proc.stdin.write((token + "\n").encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                proc.wait(timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                status = "timeout"
                _kill_group(proc)
        seconds = time.perf_counter() - started
        stdout = _tail(scratch / "stdout", limits.output_chars)
        stderr = _tail(scratch / "stderr", limits.output_chars)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    returncode = proc.returncode
    if status is None:
        if returncode == 0 and token in stdout:
            status = "passed"
        elif returncode is not None and returncode < 0:
            status = "killed"  # by a signal: memory, CPU or file-size limit
        else:
            status = "failed"
    stdout = stdout.replace(token, "").rstrip()
    return SandboxResult(status, returncode, round(seconds, 3), stdout, stderr,
                         isolation_name(prefix, drop))


def run_many(sources: Sequence[str], limits: SandboxLimits = SandboxLimits(), workers: int = 2,
             on_done: Callable[[int, SandboxResult], None] | None = None) -> list[SandboxResult]:
    """Run programs in parallel (each in its own sandbox); results in input order."""
    results: list[SandboxResult | None] = [None] * len(sources)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(run_python, src, limits): i for i, src in enumerate(sources)}
        for future in futures:
            i = futures[future]
            results[i] = future.result()
            if on_done:
                on_done(i, results[i])
    return results  # type: ignore[return-value]


def _kill_group(proc: subprocess.Popen) -> None:
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
