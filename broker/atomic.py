"""Crash-safe file writes: a reader sees the old file or the new one, never a torn one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".tmp"


class CorruptFileError(ValueError):
    """A file exists but does not hold what it should (bad UTF-8 or JSON)."""


def _temp_prefix(path: Path) -> str:
    # Hidden, and named after its target, so stale ones can be found and removed.
    return f".{path.name}."


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data``: temp file, fsync, rename, fsync the directory."""
    directory = path.parent
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=_temp_prefix(path), suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (the directory entry lives in the directory)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stale_temp_files(path: Path) -> list[Path]:
    """Temp files a crashed ``write_atomic`` of ``path`` may have left behind."""
    return sorted(path.parent.glob(f"{_temp_prefix(path)}*{TEMP_SUFFIX}"))


def remove_stale_temp_files(path: Path) -> None:
    """Remove leftovers of crashed writes of ``path``; call only while no writer runs."""
    for stale in stale_temp_files(path):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def read_json(path: Path, default: Any) -> Any:
    """The JSON in ``path``, or ``default`` if there is no such file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return default
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CorruptFileError(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise CorruptFileError(
            f"{path} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None


def write_json(path: Path, obj: Any, mode: int = 0o600) -> None:
    """Write ``obj`` as UTF-8 JSON (sorted keys, trailing newline) atomically."""
    text = json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
    write_atomic(path, text.encode("utf-8"), mode)


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) if missing; a new one is the owner's alone (0700)."""
    if directory.is_dir():
        return
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask; make it exact
