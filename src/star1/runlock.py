"""One run at a time per output (a build's run dir, an eval's ``--out``, a stage's ``--out`` file).

Two builds on one run dir would both run, pay every model call twice, and report files the
other overwrote. :class:`RunLock` holds an ``flock`` on ``<folder>/.star1.lock``, a file that
names its holder (pid, host, start time, command). A second run refuses with
:class:`RunLocked` naming that holder. The kernel drops an ``flock`` when its holder dies, even by
``kill -9``, so a lock file left behind is never in the way: the next run takes it over and
logs a note naming the run that ended without releasing it.

A single-stage command's output is a file: its lock is ``.<name>.star1.lock`` beside it
(:func:`lock_output`, :func:`holding_output`). The lock file is opened without following a
link (``O_NOFOLLOW``) and used only when it is a plain file with one name: a symlink, a hard
link, a folder or a FIFO planted at the lock path is refused with one line, and nothing it
points to is truncated.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import json
import logging
import os
import socket
import stat
import sys
from datetime import datetime, timezone
from pathlib import Path

from star1.errors import InputError, RunLocked  # re-exported: star1.runlock.RunLocked

LOCK_NAME = ".star1.lock"

log = logging.getLogger(__name__)


class RunLock:
    """``with RunLock(folder, command, option="another --out"):`` holds ``folder`` for one run.

    The folder is created if needed, and removed again on release if it was created here and
    stayed empty (a run that stopped on bad input leaves nothing behind).
    """

    def __init__(self, folder: str | os.PathLike, command: str | None = None,
                 option: str = "another folder", name: str = LOCK_NAME, target: Path | None = None):
        self.folder = Path(folder)
        self.path = self.folder / name
        self.target = target or self.folder  # what the lock holds, as messages name it
        self.command = command if command is not None else " ".join(sys.argv)
        self.option = option
        self._fd: int | None = None
        self._created = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        self._created = not self.folder.exists()
        if not self._created and not self.folder.is_dir():
            raise InputError(self.folder, "is not a folder; give a folder for the run's outputs "
                                          "(or remove that file)")
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_holder(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                raise RunLocked(self._refusal(holder)) from None
            # A holder that released between our open and our flock has unlinked the file we
            # opened: locking that orphan would let a third run lock a new file next to it.
            if _same_file(fd, self.path):
                break
            os.close(fd)
        previous = _read_holder(fd)
        if previous:
            log.warning("%s: taking over the lock of a run that ended without releasing it "
                        "(killed?): %s", self.folder, _describe(previous))
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "command": self.command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        os.fsync(fd)
        self._fd = fd

    def _open(self) -> int:
        """The lock file, created if missing; never through a link, never anything but a file."""
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK  # a FIFO must not block
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            why = {errno.ELOOP: "is a symbolic link", errno.EISDIR: "is a folder"}.get(exc.errno)
            if why is None:
                raise InputError(self.path, f"cannot open star1's lock file: {exc.strerror}") from None
            raise self._not_a_lock(why) from None
        info = os.fstat(fd)
        why = ("is not a plain file" if not stat.S_ISREG(info.st_mode)
               else "has other names (a hard link)" if info.st_nlink != 1 else None)
        if why is not None:
            os.close(fd)
            raise self._not_a_lock(why)
        os.set_blocking(fd, True)
        return fd

    def _not_a_lock(self, why: str) -> InputError:
        return InputError(self.path, f"{why}, not star1's lock file; star1 does not use it: remove it "
                                     "and run again")

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if _same_file(fd, self.path):
                self.path.unlink()  # while still locked, so no other run locks the old file
        finally:
            os.close(fd)
        if self._created:
            try:
                self.folder.rmdir()
            except OSError:
                pass  # not empty: the run wrote something, keep it

    def _refusal(self, holder: dict | None) -> str:
        who = _describe(holder) if holder else "another star1 run (it is just starting)"
        note = ""
        if holder and holder.get("host") == socket.gethostname() and not _alive(holder.get("pid")):
            note = (f"; pid {holder.get('pid')} has exited but a process it started still holds "
                    "the lock: stop that process")
        return (f"{self.target} is in use by {who}{note}; wait for that run to finish or stop it, "
                f"or use {self.option}")


def lock_output(out: str | os.PathLike, command: str | None = None) -> RunLock:
    """The lock of a command whose ``--out`` is one file: ``.<name>.star1.lock`` beside it. Two
    ``star1 classify --out same.jsonl`` at once: the second refuses, naming the first."""
    path = Path(out)
    if path.is_dir():
        raise InputError(path, "is a folder; --out takes a file name here")
    return RunLock(path.parent if str(path.parent) else Path("."), command, option="another --out",
                   name=f".{path.name}.star1.lock", target=path)


def holding_output(run):
    """``@holding_output`` on a command's ``run(args)``: it runs holding :func:`lock_output` of
    ``args.out`` (when given)."""

    @functools.wraps(run)
    def locked(args):
        out = getattr(args, "out", None)
        if not out:
            return run(args)
        with lock_output(out):
            return run(args)

    return locked


def _describe(holder: dict) -> str:
    return (f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started')} "
            f"(command: {holder.get('command')})")


def _read_holder(fd: int) -> dict | None:
    try:
        data = os.pread(fd, 1 << 16, 0)
        holder = json.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None  # empty (a holder that has not written yet) or not ours
    return holder if isinstance(holder, dict) else None


def _same_file(fd: int, path: Path) -> bool:
    try:
        mine, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # unknown: do not claim it exited
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
