"""The data-directory lock in one process: what a refusal says, what release frees."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from nhi_broker import data_lock
from nhi_broker.data_lock import LOCK_FILE, DataDirInUseError, hold

HINT = "choose another with --data-dir DIR"


def test_a_held_directory_is_refused_naming_the_holder_and_the_way_out(tmp_path: Path) -> None:
    held = hold([tmp_path / "data"], holder="nhi-broker serve", hint=HINT)
    with pytest.raises(DataDirInUseError) as refused:
        hold([tmp_path / "data"], holder="nhi-broker kit cloud", hint=HINT)
    assert str(refused.value) == (
        f"{tmp_path / 'data'} is in use by nhi-broker serve (PID {os.getpid()}); "
        f"stop it first, or {HINT}"
    )
    held.release()
    hold([tmp_path / "data"], holder="nhi-broker serve", hint=HINT).release()


def test_a_new_directory_is_made_private_and_its_lock_file_readable(tmp_path: Path) -> None:
    held = hold([tmp_path / "new" / "data"], holder="nhi-broker serve", hint=HINT)
    assert stat.S_IMODE((tmp_path / "new" / "data").stat().st_mode) == 0o700
    record = (tmp_path / "new" / "data" / LOCK_FILE).read_text()
    assert record.split() == [str(os.getpid()), "nhi-broker", "serve"]
    held.release()
    assert (tmp_path / "new" / "data" / LOCK_FILE).read_text() == ""  # released: no holder named


def test_a_refusal_on_a_later_directory_frees_the_ones_taken_before(tmp_path: Path) -> None:
    first, second = tmp_path / "data", tmp_path / "data" / "cloud-simulator"
    other = hold([second], holder="nhi-broker kit cloud", hint=HINT)
    with pytest.raises(DataDirInUseError, match="nhi-broker kit cloud"):
        hold([first, second], holder="nhi-broker serve", hint=HINT)
    hold([first], holder="nhi-broker serve", hint=HINT).release()
    other.release()


def test_the_record_a_crashed_holder_left_blocks_nothing(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_text(f"{dead_pid()} nhi-broker serve\n")
    hold([tmp_path], holder="nhi-broker serve", hint=HINT).release()


def test_a_holder_whose_record_is_not_there_yet_is_named_without_a_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_lock, "PID_WAIT", 0.05)
    held = hold([tmp_path], holder="nhi-broker serve", hint=HINT)
    (tmp_path / LOCK_FILE).write_text(f"{dead_pid()} nhi-broker serve\n")  # the previous one's
    with pytest.raises(DataDirInUseError, match=r"in use by another process \(its PID is not"):
        hold([tmp_path], holder="nhi-broker serve", hint=HINT)
    held.release()


def dead_pid() -> int:
    """The PID of a process that has ended."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(ended.stdout)
