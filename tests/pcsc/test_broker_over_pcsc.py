"""A kit health card in a vpcd slot of a real pcscd, read through the broker's HTTPS API."""

from __future__ import annotations

import dataclasses
import http.client
import json
import ssl
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from broker import config
from broker.state import HcStatus
from broker.transport.serial_frames import Slot
from nhi_broker.serve import RunningServer, start
from nhi_kit.emulators.cloud_sam_files import kit_cloud_sam
from nhi_kit.emulators.kit import CardKit
from nhi_kit.emulators.serial_reader import SerialReaderEmulator
from tests.conftest import SETTLE
from tests.hardware_dc import configured_dc
from tests.pcsc.conftest import READER0, BridgeFactory

TEST_CLOUD_SAM = "901000000047"
PATIENT = "900000000711"  # 吳佳蓉
COM1_SAM = "900000000101"


@pytest.fixture
def served(pcscd: None, tmp_path: Path) -> Iterator[RunningServer]:
    """The sim profile with pcscd's readers too; the station ``local`` reads HCs in vpcd 0."""
    settings = dataclasses.replace(
        config.sim_profile(),
        port=0,
        data_dir=tmp_path / "data",
        pcsc=True,
        stations=(config.StationConfig(config.LOCAL, hc_reader=READER0),),
    )
    running = start(settings)
    yield running
    running.stop()
    pykka.ActorRegistry.stop_all()


def call(server: RunningServer, method: str, path: str, body: Any = None) -> dict[str, Any]:
    parsed = urllib.parse.urlsplit(server.url)
    # Trust the broker's own CA, as a station that ran `nhi-broker cert install` does.
    context = ssl.create_default_context(cafile=str(server.broker.config.data_dir / "tls/ca.crt"))
    connection = http.client.HTTPSConnection(
        parsed.hostname or "", parsed.port, context=context, timeout=30
    )
    try:
        connection.request(method, path, body=json.dumps(body or {}).encode())
        response = connection.getresponse()
        assert response.status == 200
        answer: dict[str, Any] = json.loads(response.read())
        return answer
    finally:
        connection.close()


def test_a_vpcd_health_card_is_read_through_the_broker(
    served: RunningServer, make_bridge: BridgeFactory
) -> None:
    assert served.broker.supervisor.handle(f"reader:{READER0}").is_alive()
    initial = call(served, "POST", "/api/common/v1/Initial", {"name": TEST_CLOUD_SAM})
    assert initial["statusCode"] == 0
    assert call(served, "GET", "/api/common/v1/Status")["status"]["readerName"] == READER0

    make_bridge(CardKit().card(PATIENT), READER0).insert()  # seen by the broker's PC/SC monitor
    present = served.broker.board.wait_for(
        config.LOCAL, lambda s: s.hc_status is HcStatus.PRESENT, SETTLE
    )
    assert present is not None

    basic = call(served, "GET", "/api/hc/v1/BasicData")
    assert basic["statusCode"] == 0, basic
    assert (basic["cardId"], basic["name"], basic["birthday"], basic["sex"]) == (
        PATIENT,
        "吳佳蓉",
        "0741201",
        "F",
    )


@pytest.fixture
def hardware(pcscd: None, tmp_path: Path) -> Iterator[RunningServer]:
    """The hardware profile: pcscd's readers, a serial reader on a pty, a data centre as
    configured for a clinic (the kit's simulator, its CA and grant key named)."""
    kit = CardKit()
    com1 = SerialReaderEmulator("COM1")
    tty = com1.start()
    com1.insert(Slot.SAM, kit.card(COM1_SAM))
    with configured_dc(tmp_path) as dc:
        settings = config.BrokerConfig(
            profile="hardware",
            port=0,
            data_dir=tmp_path / "data",
            pcsc=True,
            dc=dc,
            stations=(config.StationConfig(config.LOCAL, serial="COM1", hc_reader=READER0),),
            serial=(config.SerialConfig("COM1", tty),),
        )
        running = start(settings)
        running.broker.store.import_file(*kit_cloud_sam(TEST_CLOUD_SAM))  # 設定 → 雲端安全模組
        yield running
        running.stop()
    com1.stop()
    pykka.ActorRegistry.stop_all()


def test_the_hardware_profile_serves_pcsc_and_serial_readers(
    hardware: RunningServer, make_bridge: BridgeFactory
) -> None:
    assert hardware.broker.kit is None
    devices = call(hardware, "GET", "/api/common/v1/Devices")["devices"]
    assert {d["name"] for d in devices} == {TEST_CLOUD_SAM, "COM1"}

    assert call(hardware, "POST", "/api/common/v1/Initial", {"name": "COM1"})["statusCode"] == 0
    assert call(hardware, "POST", "/api/sam/v1/Verification")["statusCode"] == 0
    assert call(hardware, "GET", "/api/sam/v1/BasicData")["samId"] == COM1_SAM
    assert call(hardware, "POST", "/api/common/v1/Finalize")["statusCode"] == 0

    make_bridge(CardKit().card(PATIENT), READER0).insert()
    assert (
        call(hardware, "POST", "/api/common/v1/Initial", {"name": TEST_CLOUD_SAM})["statusCode"]
        == 0
    )
    present = hardware.broker.board.wait_for(
        config.LOCAL, lambda s: s.hc_status is HcStatus.PRESENT, SETTLE
    )
    assert present is not None
    basic = call(hardware, "GET", "/api/hc/v1/BasicData")
    assert (basic["statusCode"], basic["name"]) == (0, "吳佳蓉")
