"""Atomic writes: a reader sees the old file or the new one, even when the writer is killed."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.atomic import (
    CorruptFileError,
    ensure_private_dir,
    read_json,
    remove_stale_temp_files,
    stale_temp_files,
    write_atomic,
    write_json,
)
from nhi_kit.emulators.cloud_sam_files import kit_cloud_sam
from tests.store import crash_writer

WRITER = Path(crash_writer.__file__)
KILLS = 100


def temp_files(directory: Path) -> list[Path]:
    """Leftovers of interrupted atomic writes."""
    return sorted(directory.glob(".*.tmp"))


def test_write_atomic_creates_the_file_with_the_mode_asked(tmp_path: Path) -> None:
    write_atomic(tmp_path / "a", b"one")
    write_atomic(tmp_path / "b", b"two", mode=0o644)
    assert (tmp_path / "a").read_bytes() == b"one"
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o644
    assert temp_files(tmp_path) == []


def test_write_atomic_replaces_the_old_content_whole(tmp_path: Path) -> None:
    path = tmp_path / "f"
    write_atomic(path, b"old content that is longer")
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new"
    assert temp_files(tmp_path) == []


def test_a_failed_write_keeps_the_old_file_and_removes_its_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    write_atomic(path, b"old")
    with pytest.raises(TypeError):
        write_atomic(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert temp_files(tmp_path) == []


def test_a_failed_rename_removes_the_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "is-a-directory"
    (target / "inside").mkdir(parents=True)
    with pytest.raises(OSError, match="is-a-directory"):
        write_atomic(target, b"data")
    assert temp_files(tmp_path) == []


def test_json_is_utf8_with_sorted_keys_and_a_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    write_json(path, {"b": "測試機構", "a": [1, None]})
    raw = path.read_bytes()
    assert raw.endswith(b"}\n")
    assert "測試機構".encode() in raw
    assert raw.index(b'"a"') < raw.index(b'"b"')
    assert read_json(path, None) == {"a": [1, None], "b": "測試機構"}


def test_read_json_gives_the_default_for_a_missing_file(tmp_path: Path) -> None:
    assert read_json(tmp_path / "absent.json", {"empty": True}) == {"empty": True}


@pytest.mark.parametrize(("content", "reason"), [(b"{", "not JSON"), (b"\xff", "not UTF-8")])
def test_read_json_names_the_damaged_file(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(CorruptFileError, match=reason) as caught:
        read_json(path, None)
    assert str(path) in str(caught.value)


def test_only_the_named_files_stale_temp_files_are_removed(tmp_path: Path) -> None:
    mine = tmp_path / ".a.json.x1y2.tmp"
    theirs = tmp_path / ".b.json.x1y2.tmp"
    mine.write_bytes(b"")
    theirs.write_bytes(b"")
    assert stale_temp_files(tmp_path / "a.json") == [mine]
    remove_stale_temp_files(tmp_path / "a.json")
    assert not mine.exists()
    assert theirs.exists()


def test_a_new_private_directory_is_0700(tmp_path: Path) -> None:
    directory = tmp_path / "x" / "y"
    old_umask = os.umask(0)
    try:
        ensure_private_dir(directory)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


# --- killed writers --------------------------------------------------------------------


@pytest.fixture
def fork_server(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """The crash writer's fork server on ``tmp_path / "data"``."""
    server = subprocess.Popen(
        [sys.executable, str(WRITER), str(tmp_path / "data")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    yield server
    assert server.stdin is not None
    server.stdin.write("quit\n")
    server.stdin.close()
    try:
        assert server.wait(timeout=10) == 0
    finally:
        if server.poll() is None:
            server.kill()  # its writer, orphaned, then stops by itself
            server.wait()


def test_a_writer_killed_anywhere_leaves_a_whole_store_and_settings(
    tmp_path: Path, fork_server: subprocess.Popen[str]
) -> None:
    data_dir = tmp_path / "data"
    store, settings = crash_writer.open_both(data_dir)
    store.import_file(*kit_cloud_sam(crash_writer.KEPT_SAM))
    device_id = settings.device_id
    assert fork_server.stdin is not None
    assert fork_server.stdout is not None
    rng = random.Random(20240620)
    last_step, states, torn_writes = 0, set(), 0
    for _ in range(KILLS):
        fork_server.stdin.write("fork\n")
        word, pid = fork_server.stdout.readline().split()
        assert word == "started"
        time.sleep(rng.uniform(0, 0.02))  # a random point in the writer's loop: the test's point
        os.kill(int(pid), signal.SIGKILL)
        assert fork_server.stdout.readline().split() == ["ended", pid, str(int(signal.SIGKILL))]

        leftovers = temp_files(data_dir)
        assert len(leftovers) <= 1  # one write in flight at a time; earlier ones were cleaned
        torn_writes += len(leftovers)
        store, settings = crash_writer.open_both(data_dir)
        assert temp_files(data_dir) == []
        sams = tuple(row.sam_id for row in store.list())
        assert sams in {(crash_writer.KEPT_SAM,), (crash_writer.TOGGLED_SAM, crash_writer.KEPT_SAM)}
        for sam_id in sams:
            assert store.get(sam_id).sam_id == sam_id
        assert settings.device_id == device_id
        step = crash_writer.step_of(settings)
        assert step >= last_step  # never an older version than one already seen
        last_step = step
        states.add(sams)
    assert len(states) == 2
    assert last_step > KILLS  # the writers got well into their loops
    assert torn_writes > 0  # some kills did land mid-write
