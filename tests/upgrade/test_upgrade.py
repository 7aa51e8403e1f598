"""The current release on the data directory the release of 5e8be16 left (``README.md``): it
starts, keeps every setting, cloud SAM, the CA and the cloud simulator's state, says in one line
what it migrated; a file of a newer release stops ``serve`` in one line and stays as it is."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from broker import config
from broker import logging as broker_logging
from broker.store import CloudSamStore, SealIdentity, StoreSealError
from nhi_broker.assembly import trusted_grant_key
from nhi_broker.serve import RunningServer, start
from tests.api.https_client import HisClient
from tests.serving import NHI_BROKER

FIXTURE = Path(__file__).parent / "release-5e8be16"
RECORD: dict[str, Any] = json.loads((FIXTURE / "fixture.json").read_text(encoding="utf-8"))
OLD = FIXTURE / "data"
SAMS = ["001000000103", "901000000047", "901000000054"]  # the two of the sim, the one imported
KEPT = [  # byte for byte: settings, the store and its key, the CA, the simulators' keys
    "settings.json",
    "cloud-sams.json",
    "store.key",
    "tls/ca.crt",
    "tls/ca.key",
    "dc-simulator/dc-simulator.crt",
    "dc-simulator/dc-simulator.key",
    "cloud-simulator/cloud-simulator.crt",
    "cloud-simulator/cloud-simulator.key",
]


def restored(target: Path) -> Path:
    """The fixture's data directory copied to ``target`` with the modes the release gave it."""
    shutil.copytree(OLD, target)
    for name, mode in sorted(RECORD["modes"].items(), key=lambda item: -len(item[0])):
        os.chmod(target / name, int(mode, 8))
    return target


@dataclasses.dataclass
class Upgraded:
    """The current release serving the old data directory, and what it logged."""

    running: RunningServer
    data_dir: Path
    log: list[dict[str, Any]]

    def station(self) -> HisClient:
        """A station that trusted the old release's CA, and nothing else."""
        context = ssl.create_default_context(cafile=str(OLD / "tls" / "ca.crt"))
        return HisClient(self.running.url, context)


@pytest.fixture
def upgraded(tmp_path: Path) -> Iterator[Upgraded]:
    data_dir = restored(tmp_path / "data")
    lines = io.StringIO()
    broker_logging.configure(stream=lines, json=True, level="info")
    sim = config.sim_profile()
    # The store opens as the host and user that sealed it (the fixture's); the product never
    # names another identity, so on this host the same files do not open (test below).
    identity = SealIdentity(RECORD["hostId"], RECORD["userId"])
    running = start(dataclasses.replace(sim, port=0, data_dir=data_dir), seal_identity=identity)
    try:
        log = [json.loads(line) for line in lines.getvalue().splitlines()]
        yield Upgraded(running, data_dir, log)
    finally:
        running.stop()
        pykka.ActorRegistry.stop_all()
        broker_logging.reset()


def test_the_new_release_says_in_one_line_what_it_migrated(upgraded: Upgraded) -> None:
    migrated = [line for line in upgraded.log if line["event"] == "data_dir.migrated"]
    assert len(migrated) == 1
    assert migrated[0]["data_dir"] == str(upgraded.data_dir)
    assert migrated[0]["files"] == [
        "cloud-simulator/cloud-state.json 1 → 2 (the old file kept as cloud-state.json.v1)"
    ]


def test_settings_cloud_sams_and_keys_are_kept_byte_for_byte(upgraded: Upgraded) -> None:
    for name in KEPT:
        assert (upgraded.data_dir / name).read_bytes() == (OLD / name).read_bytes(), name
    old_state = OLD / "cloud-simulator" / "cloud-state.json"
    kept = upgraded.data_dir / "cloud-simulator" / "cloud-state.json.v1"
    assert kept.read_bytes() == old_state.read_bytes()


def test_stations_that_trusted_the_old_ca_still_trust_the_broker(upgraded: Upgraded) -> None:
    station = upgraded.station()  # the handshake checks the chain to the old CA and the name
    assert station.call("GET", "/api/common/v1/Status")["statusCode"] == 0
    station.close()


def test_every_setting_is_kept(upgraded: Upgraded) -> None:
    station = upgraded.station()
    default = station.call("POST", "/api/settings/v1/PcscReaderReader/GetDefault")
    assert default["readerName"] == "Virtual Reader 4"
    assert station.call("GET", "/api/settings/v1/Cors/Get")["hosts"] == [
        "his.clinic.lan",
        "https://emr.clinic.lan:8443",
    ]
    station.close()
    settings = upgraded.running.broker.settings
    assert settings.last_device == "COM1"
    old = json.loads((OLD / "settings.json").read_text(encoding="utf-8"))
    assert settings.device_id == old["deviceId"]  # the data centre knows the host by it


def test_every_cloud_sam_is_kept_and_still_signs(upgraded: Upgraded) -> None:
    station = upgraded.station()
    listed = station.call("GET", "/api/settings/v1/CloudSam/Get")["cloudSams"]
    assert [sam["samId"] for sam in listed] == SAMS
    for sam_id in SAMS:
        assert upgraded.running.broker.store.get(sam_id).sam_id == sam_id
    station.call("POST", "/api/common/v1/Initial", {"name": "901000000047"})
    station.call("POST", "/api/sam/v1/Verification")  # its key, unsealed, answers the DC
    signed = station.call("POST", "/api/sam/v1/Signature", {"serviceType": "01"})
    assert signed["samId"] == "901000000047"
    station.close()


def test_the_cloud_simulators_state_is_kept(upgraded: Upgraded) -> None:
    visit = RECORD["visit"]
    kit = upgraded.running.broker.kit
    assert kit is not None
    assert kit.cloud is not None
    store = kit.cloud.cloud.store
    visits = [
        v
        for v in store.visits(visit["card"])
        if v["treatmentDateTime"] == visit["treatmentDateTime"]
    ]
    assert [v["sequenceNumber"] for v in visits] == [visit["sequenceNumber"]]
    assert visits[0]["codes"]["mainCode"] == "J069"
    day = visit["treatmentDateTime"][:7]
    assert store.state["sequences"][f"{visit['card']}|{day}"] == int(visit["sequenceNumber"])
    upgraded_state = json.loads(
        (upgraded.data_dir / "cloud-simulator" / "cloud-state.json").read_text(encoding="utf-8")
    )
    assert upgraded_state["version"] == 2


def test_the_store_still_opens_only_for_the_host_and_user_that_sealed_it(tmp_path: Path) -> None:
    data_dir = restored(tmp_path / "data")
    here = CloudSamStore(data_dir, trusted_grant_key(config.sim_profile()))
    assert [sam.sam_id for sam in here.list()] == SAMS  # the public columns
    with pytest.raises(StoreSealError, match="sealed for another host or user"):
        here.get("901000000047")


def test_serve_refuses_a_settings_file_of_a_newer_release_and_leaves_it(tmp_path: Path) -> None:
    data_dir = restored(tmp_path / "data")
    newer = {**json.loads((OLD / "settings.json").read_text(encoding="utf-8")), "version": 2}
    (data_dir / "settings.json").write_text(json.dumps(newer))
    written = (data_dir / "settings.json").read_bytes()
    result = subprocess.run(
        [NHI_BROKER, "serve", "--profile", "sim", "--port", "0", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"nhi-broker: {data_dir / 'settings.json'} is version 2 of the settings")
    assert "Traceback" not in result.stderr
    assert "broker.ready" not in result.stderr
    assert (data_dir / "settings.json").read_bytes() == written
    assert not list(data_dir.glob("settings.json.v*"))
