"""One process per data directory: a lock the kernel holds for the process's life.

``hold`` takes an exclusive ``flock`` on ``<directory>/nhi-broker.lock`` and
writes the holder's PID and command into it. The kernel drops the lock when
the file is closed or the process ends, however it ends (``kill -9``
included): a crash leaves the file, never the lock, so the next start
succeeds at once. The file is never removed (a process that opened it just
before would lock a file nobody else sees).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from broker.atomic import ensure_private_dir

LOCK_FILE = "nhi-broker.lock"
RECORD_LENGTH = 64  # one fixed-size write: a reader sees the old record or the new one
PID_WAIT = 1.0  # seconds a refused start waits for a holder that has locked but not yet written


class DataDirInUseError(OSError):
    """Another process holds the directory; the message names it and what to do."""

    def __init__(self, directory: Path, holder: str, hint: str) -> None:
        super().__init__(
            errno.EBUSY, f"{directory} is in use by {holder}; stop it first, or {hint}"
        )
        self.directory = directory
        self.holder = holder

    def __str__(self) -> str:
        return str(self.strerror)


@dataclass
class DirectoryLock:
    """Held directories; ``release`` frees them (idempotent), as the process's end does."""

    directories: tuple[Path, ...]
    _fds: list[int] = field(default_factory=list, repr=False)

    def release(self) -> None:
        """Clear each record, then unlock and close, last taken first."""
        while self._fds:
            fd = self._fds.pop()
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the last descriptor drops the flock


def hold(directories: Sequence[Path], *, holder: str, hint: str) -> DirectoryLock:
    """Lock each directory (made, 0700, when missing) for this process, in order.

    ``DataDirInUseError`` if another process holds one: those taken here are
    freed again. ``holder`` says who this is (``nhi-broker serve``); ``hint``
    how to choose another directory.
    """
    lock = DirectoryLock(tuple(directories))
    try:
        for directory in directories:
            lock._fds.append(_lock_one(directory, holder, hint))
    except BaseException:
        lock.release()
        raise
    return lock


def _lock_one(directory: Path, holder: str, hint: str) -> int:
    ensure_private_dir(directory)
    path = directory / LOCK_FILE
    # 0644: whoever may look into the directory may read who holds it.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = _holder(fd)
        os.close(fd)
        raise DataDirInUseError(directory, other, hint) from None
    except BaseException:
        os.close(fd)
        raise
    record = f"{os.getpid()} {holder}".encode()[: RECORD_LENGTH - 1].ljust(RECORD_LENGTH - 1)
    os.pwrite(fd, record + b"\n", 0)
    os.ftruncate(fd, RECORD_LENGTH)
    return fd


def _holder(fd: int) -> str:
    """Who holds the lock, as its record says: ``nhi-broker serve (PID 1234)``.

    A holder writes its record just after locking; a start that lost the race by
    microseconds may see the previous holder's record (a process that ended) or
    none, so it reads again for a moment until the record names a live process.
    """
    deadline = time.monotonic() + PID_WAIT
    while True:
        pid, command = _record(os.pread(fd, RECORD_LENGTH, 0))
        if pid is not None and _alive(pid):
            return f"{command or 'another process'} (PID {pid})"
        if time.monotonic() > deadline:
            return "another process (its PID is not known)"
        time.sleep(0.01)


def _record(raw: bytes) -> tuple[int | None, str]:
    pid, _, command = raw.decode("utf-8", "replace").strip().partition(" ")
    return (int(pid) if pid.isdigit() else None), command.strip()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
