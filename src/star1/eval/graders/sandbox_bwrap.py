"""The bubblewrap (``bwrap``) command line of the sandbox, and its seccomp filter.

Used by :mod:`star1.eval.graders.sandbox` in its ``bwrap`` mode; see its docstring for what the
mode guarantees. Every option here is there for a reason written next to it. ``--size`` (the
tmpfs cap) and ``--disable-userns`` appeared in bwrap 0.8 (Debian 12); with an older bwrap the
work dir is a folder of the host bound in, whose size the parent polls, and nested user
namespaces are left to the seccomp filter (it refuses clone and unshare).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Sequence
from functools import lru_cache

BOX = "/sandbox"  # read-only: the boot script and the program of this run
BOX_WORK = "/work"  # the size-limited tmpfs, the only writable place
SANDBOX_UID = 65534  # uid and gid inside (mapped to the caller's uid outside)


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@lru_cache(maxsize=1)
def bwrap_options() -> frozenset[str]:
    """The long options this bwrap knows (from ``bwrap --help``)."""
    try:
        text = subprocess.run([bwrap_path() or "bwrap", "--help"], capture_output=True, text=True,
                              timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(re.findall(r"^\s+(--[a-z0-9-]+)", text, re.M))


def has_size_cap() -> bool:
    return "--size" in bwrap_options()


def bwrap_command(box: str, python: Sequence[str], disk_bytes: int, env: dict[str, str],
                  seccomp_fd: int | None, work_host: str | None = None) -> list[str]:
    """The argv that runs ``python`` (ending with its script and arguments) in a new sandbox,
    with the host folder ``box`` read-only at :data:`BOX`, and as the work dir a tmpfs of
    ``disk_bytes``, or the host folder ``work_host`` where bwrap cannot cap a tmpfs."""
    command = [bwrap_path() or "bwrap",
               # New user, PID, network (loopback only, down), mount, IPC, UTS, cgroup namespaces.
               "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    if "--disable-userns" in bwrap_options():
        command.append("--disable-userns")  # no nested user namespace, where it would hold capabilities
    command += ["--die-with-parent", "--new-session",  # no terminal to inject keystrokes into
                "--as-pid-1",  # no bwrap reaper inside: the program is the only process it can see
                "--cap-drop", "ALL",
                *_system_binds(), "--ro-bind", box, BOX,
                "--proc", "/proc", *_proc_covers()]
    for device in ("null", "zero", "random", "urandom"):  # not --dev: its /dev and /dev/shm are writable
        command += ["--dev-bind", f"/dev/{device}", f"/dev/{device}"]
    if work_host is None:
        command += ["--size", str(disk_bytes), "--tmpfs", BOX_WORK]
    else:
        command += ["--bind", work_host, BOX_WORK]
    command += ["--symlink", BOX_WORK, "/tmp",  # programs that write to /tmp write to the work dir
                "--chdir", BOX_WORK, "--remount-ro", "/", "--clearenv"]
    for key, value in env.items():
        command += ["--setenv", key, value]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    return [*command, "--", *python]


@lru_cache(maxsize=1)
def _system_binds() -> tuple[str, ...]:
    # Only what the interpreter needs, read-only: not the host's /etc, /home, /root or /tmp.
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = "/" + name
        if os.path.islink(path):  # merged /usr: keep the link
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ("/etc/ld.so.cache", "/etc/localtime"):
        args += ["--ro-bind-try", path, path]
    # The interpreter's own prefix (e.g. a pyenv build under /root); a venv's site-packages are
    # not needed, as the child runs with -I -S.
    interpreter = os.path.realpath(sys.executable)
    prefixes = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)}
    prefixes.add(os.path.dirname(os.path.dirname(interpreter)))
    for prefix in sorted(prefixes):
        if prefix != "/usr" and not prefix.startswith("/usr/"):
            args += ["--ro-bind", prefix, prefix]
    return tuple(args)


def _proc_covers() -> list[str]:
    # The sandbox user is root outside (bwrap maps it to the caller), so root-owned /proc files
    # that are global, not per namespace, are open to it by owner rights, no capability needed:
    # /proc/sys/kernel/core_pattern opened for writing, here, before these covers. They are
    # covered as Docker covers them: /proc/sys hidden, a few trees read-only, a few files masked.
    args = ["--tmpfs", "/proc/sys", "--remount-ro", "/proc/sys"]
    for name in ("irq", "bus", "fs", "acpi", "scsi", "asound", "driver", "tty"):
        if os.path.isdir(f"/proc/{name}"):
            args += ["--ro-bind", f"/proc/{name}", f"/proc/{name}"]
    for name in ("sysrq-trigger", "keys", "key-users", "kcore", "kmsg", "kallsyms", "timer_list",
                 "sched_debug", "latency_stats"):
        if os.path.exists(f"/proc/{name}"):
            args += ["--ro-bind", "/dev/null", f"/proc/{name}"]  # mounted nodev: unreadable
    return args


# --- seccomp ---------------------------------------------------------------------------------

# Refused system calls per architecture. No clone at all, threads included: a thread bomb would
# otherwise exhaust the host's PIDs, since RLIMIT_NPROC does not bind a uid that is root outside.
# The key-ring calls, because the kernel keyring is not namespaced (it is root's, outside).
_REFUSED = {
    "x86_64": (0xC000003E, {
        "clone": 56, "clone3": 435, "fork": 57, "vfork": 58, "ptrace": 101,
        "process_vm_readv": 310, "process_vm_writev": 311, "unshare": 272, "setns": 308,
        "mount": 165, "umount2": 166, "pivot_root": 155, "add_key": 248, "request_key": 249,
        "keyctl": 250, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427}),
    "aarch64": (0xC00000B7, {
        "clone": 220, "clone3": 435, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271, "unshare": 97, "setns": 268, "mount": 40, "umount2": 39,
        "pivot_root": 41, "add_key": 217, "request_key": 218, "keyctl": 219, "bpf": 280,
        "perf_event_open": 241, "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427}),
}
_LD, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06  # classic BPF: load word, jump if ==, >=, return
_ALLOW, _KILL, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_EPERM, _ENOSYS = 1, 38


def seccomp_filter() -> bytes | None:
    """The BPF program bwrap loads (``--seccomp``), or None on an architecture not listed."""
    machine = platform.machine()
    if machine not in _REFUSED:
        return None
    arch, refused = _REFUSED[machine]

    def op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("=HBBI", code, jt, jf, k)

    # seccomp_data: int nr at offset 0, u32 arch at 4.
    prog = [op(_LD, 4), op(_JEQ, arch, 1, 0), op(_RET, _KILL), op(_LD, 0)]  # another ABI: killed
    if machine == "x86_64":  # the x32 ABI numbers its calls from 0x40000000
        prog += [op(_JGE, 0x40000000, 0, 1), op(_RET, _ERRNO | _ENOSYS)]
    for number in sorted(refused.values()):
        prog += [op(_JEQ, number, 0, 1), op(_RET, _ERRNO | _EPERM)]
    return b"".join([*prog, op(_RET, _ALLOW)])
