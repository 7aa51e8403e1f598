"""Format versions of the stored files: a newer release's file refused and left as it is, an
older one upgraded with the old file kept, the current one read as it is."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from broker import formats
from broker.settings import SETTINGS_FILE, Settings
from broker.store import INDEX_FILE, CloudSamStore
from nhi_kit.cloud.store import STATE_FILE, CloudStore, seeded
from nhi_kit.emulators.keys import ec_key

Opener = Callable[[Path], object]
STORES: list[tuple[str, Opener, str]] = [
    (SETTINGS_FILE, Settings, "settings"),
    (INDEX_FILE, lambda d: CloudSamStore(d, ec_key("dc-grant").public_key()), "cloud-SAM store"),
    (STATE_FILE, CloudStore, "cloud simulator's state"),
]


@pytest.mark.parametrize(("name", "opener", "what"), STORES)
def test_a_file_of_a_newer_release_is_refused_and_left_as_it_is(
    tmp_path: Path, name: str, opener: Opener, what: str
) -> None:
    path = tmp_path / name
    written = json.dumps({"version": 99, "whatever": "a later release keeps here"}).encode()
    path.write_bytes(written)
    with pytest.raises(formats.NewerFormatError) as refused:
        opener(tmp_path)
    assert str(refused.value).startswith(f"{path} is version 99 of the {what}, newer than this")
    assert "left as it is" in str(refused.value)
    assert path.read_bytes() == written
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing written beside it


@pytest.mark.parametrize(("name", "opener", "_what"), STORES)
def test_a_current_file_is_read_as_it_is(
    tmp_path: Path, name: str, opener: Opener, _what: str
) -> None:
    opener(tmp_path)
    if name == STATE_FILE:
        CloudStore(tmp_path).save()
    before = (tmp_path / name).read_bytes() if (tmp_path / name).exists() else None
    opened = opener(tmp_path)
    assert getattr(opened, "migration") is None  # noqa: B009 - each store has one
    after = (tmp_path / name).read_bytes() if (tmp_path / name).exists() else None
    assert after == before
    assert not list(tmp_path.glob("*.v[0-9]*"))


def test_the_cloud_state_of_version_1_is_upgraded_and_the_old_file_kept(tmp_path: Path) -> None:
    old: dict[str, Any] = {**seeded(), "format": "nhi-broker/kit-cloud/1"}
    del old["version"]
    old["sequences"] = {"900000000711|1151208": 1}
    path = tmp_path / STATE_FILE
    path.write_text(json.dumps(old))
    os.chmod(path, 0o600)
    written = path.read_bytes()

    store = CloudStore(tmp_path)

    assert store.migration is not None
    assert store.migration.describe(tmp_path) == (
        "cloud-state.json 1 → 2 (the old file kept as cloud-state.json.v1)"
    )
    upgraded = json.loads(path.read_text())
    assert upgraded["version"] == 2
    assert "format" not in upgraded
    assert {k: v for k, v in upgraded.items() if k != "version"} == {
        k: v for k, v in old.items() if k != "format"
    }
    assert store.state == upgraded
    kept = tmp_path / f"{STATE_FILE}.v1"
    assert kept.read_bytes() == written
    assert stat.S_IMODE(kept.stat().st_mode) == stat.S_IMODE(path.stat().st_mode) == 0o600
    assert CloudStore(tmp_path).migration is None  # once


def test_an_upgrade_runs_every_step_in_order(tmp_path: Path) -> None:
    steps = {
        1: lambda obj: {"version": obj["version"], "names": [obj["name"]]},
        2: lambda obj: {**obj, "names": [n.upper() for n in obj["names"]]},
    }
    thing = formats.Format("things", 3, steps)
    (tmp_path / "thing.json").write_text('{"version": 1, "name": "a"}')
    obj, migration = formats.load(tmp_path / "thing.json", thing)
    assert obj == {"version": 3, "names": ["A"]}
    assert migration is not None
    assert (migration.old, migration.new) == (1, 3)


def test_a_format_without_a_way_up_from_an_older_version_is_a_mistake() -> None:
    with pytest.raises(ValueError, match=r"no upgrade from version \[2\]"):
        formats.Format("things", 3, {1: dict})


def test_a_file_naming_no_version_is_unknown_not_upgraded(tmp_path: Path) -> None:
    (tmp_path / "thing.json").write_text('{"version": "1"}')
    with pytest.raises(formats.UnknownFormatError, match="names no format version of the things"):
        formats.load(tmp_path / "thing.json", formats.Format("things", 1))
