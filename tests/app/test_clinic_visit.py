"""A clinic's visits, as a real clinic client (a PyQt HIS driving cshis6) makes them, over HTTPS
against ``nhi-broker serve --profile sim``: every call's code, and whose card each answer is.

The client ignores the result of HC Logout and of a virtual-card verification and reads
``status.hc.status == 0`` as "no card", so these are the behaviours it relies on: after a
logout a card still in the reader is 1, a new virtual card logs the previous patient out,
and Finalize leaves nothing of the previous session behind. On the dedicated serial reader
the client sends a placeholder PIN and the holder types the real one on the reader's pad.
"""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

NHI_BROKER = Path(sys.executable).parent / "nhi-broker"
CLOUD_SAM = "901000000047"  # the manual's test cloud SAM, hospital 7777777777
PATIENT = "900000000711"  # 吳佳蓉, in Virtual Reader 0 (the local station's default reader)
COM1_PATIENT = "900000000735"  # 陳美玲, in COM1's HC slot
NEXT_PATIENT = "900000000728"  # 王小明, who comes with a virtual card (QR code)
HPC = "100000291508"  # 測試人員4 in Virtual Reader 1, PIN 000000 (the manual's sample)
COM1_DOCTOR = "100000291539"  # 測試醫師7 in COM1's HPC slot, PIN 222222
PLACEHOLDER_PIN = "000000"  # what a client sends when the pad collects the PIN
SIGN = "/api/hc/v1/Signature/Hc"
THREE_CARDS = "/api/hc/v1/Signature/HpcHc"
STATUS = "/api/common/v1/Status"


@dataclass
class Broker:
    """A running ``serve --profile sim`` and an HTTPS client for it (verification off, as
    today's clients connect)."""

    url: str
    process: subprocess.Popen[str]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        parsed = urllib.parse.urlsplit(self.url)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            parsed.hostname or "", parsed.port, context=context, timeout=60
        )
        try:
            connection.request(method, path, body=json.dumps(body or {}).encode())
            response = connection.getresponse()
            assert response.status == 200, (method, path, response.status)
            answer: dict[str, Any] = json.loads(response.read())
            return answer
        finally:
            connection.close()

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.call(method, path, body)
        assert answer["statusCode"] == 0, (method, path, answer)
        return answer

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.ok("GET", STATUS)["status"]
        return status

    def pin_of(self, card_id: str) -> str:
        cards = self.ok("GET", "/api/sim/v1/Cards")["cards"]
        return str(next(c for c in cards if c["id"] == card_id)["fields"]["pin"])


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """``nhi-broker serve --profile sim --port 0`` on a fresh data directory."""
    data_dir = tmp_path_factory.mktemp("visit") / "data"
    process = subprocess.Popen(
        [NHI_BROKER, "serve", "--profile", "sim", "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()
    announced: dict[str, Any] = {}

    def drain() -> None:  # read every line, so the broker never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            if '"broker.ready"' in line:
                announced.update(json.loads(line))
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), "serve never logged broker.ready"
        assert announced, "serve ended before broker.ready"
        yield Broker(str(announced["url"]), process)
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=10)


@pytest.fixture
def fresh(broker: Broker) -> Broker:
    """The broker with no device connected, the kit's cards back where they started."""
    broker.call("POST", "/api/common/v1/Finalize")
    for reader, card in (("Virtual Reader 0", PATIENT), ("COM1 HC", COM1_PATIENT)):
        broker.ok("POST", "/api/sim/v1/Insert", {"reader": reader, "card": card})
    return broker


def signs_for(broker: Broker, path: str, service_type: str, patient: str) -> dict[str, Any]:
    signed = broker.ok("POST", path, {"serviceType": service_type})
    assert (signed["hcId"], signed["serviceType"]) == (patient, service_type), signed
    return signed


def registration_and_consultation(broker: Broker, patient: str, doctor: str) -> None:
    """[HC Logout → Signature/Hc 01, 01, 03] → 3 × (Status → HpcHc 01) → Hc 02 twice."""
    broker.ok("DELETE", "/api/hc/v1/Logout")
    for service_type in ("01", "01", "03"):
        signs_for(broker, SIGN, service_type, patient)
    for _ in range(3):
        assert broker.status()["hpc"]["status"] == 3
        assert signs_for(broker, THREE_CARDS, "01", patient)["hpcId"] == doctor
    assert broker.status()["hc"]["status"] == 3  # 健保卡與醫事人員卡已驗證
    for _ in range(2):
        signs_for(broker, SIGN, "02", patient)


def logout_keeps_the_card_in_the_reader(broker: Broker, patient: str, doctor: str) -> None:
    """HC Logout → Status HC 1 (已置入), PIN unverified → the next HpcHc 01 still works."""
    broker.ok("DELETE", "/api/hc/v1/Logout")
    hc = broker.status()["hc"]
    assert (hc["type"], hc["status"], hc["pinVerified"]) == (1, 1, False), hc
    assert signs_for(broker, THREE_CARDS, "01", patient)["hpcId"] == doctor


def next_patient_with_a_virtual_card(broker: Broker) -> None:
    """A QR token verified without a logout first; the signature after it is the new one's."""
    token = broker.ok("POST", "/api/sim/v1/VirtualHc/Token", {"card": NEXT_PATIENT})["token"]
    broker.ok("POST", "/api/hc/v1/Verification/VirtualHc", {"token": token})
    hc = broker.status()["hc"]
    assert (hc["type"], hc["status"]) == (2, 2), hc
    signs_for(broker, SIGN, "01", NEXT_PATIENT)
    read = broker.ok("POST", "/api/hc/v1/VirtualHc/ReadBasic", {"token": token})
    assert read["cardId"] == NEXT_PATIENT
    broker.ok("POST", "/api/hc/v1/Verification/VirtualHc", {"token": token})  # again: 2nd use
    signs_for(broker, SIGN, "01", NEXT_PATIENT)


def finalize_leaves_nothing_verified(broker: Broker, device: str, patient: str) -> None:
    """Finalize → Initial → Status: nothing verified, no virtual card; the card in the reader
    is the one read."""
    broker.ok("POST", "/api/common/v1/Finalize")
    broker.ok("POST", "/api/common/v1/Initial", {"name": device})
    status = broker.status()
    assert status["sam"]["status"] == 1, status
    assert status["hpc"]["status"] == 1, status
    hc = status["hc"]
    assert (hc["type"], hc["status"], hc["pinVerified"]) == (1, 1, False), hc


def test_a_visit_with_a_cloud_sam_signs_for_the_patient_in_front_of_the_doctor(
    fresh: Broker,
) -> None:
    broker = fresh
    assert broker.status()["initialized"] is False
    assert broker.call("POST", "/api/common/v1/Finalize")["statusCode"] == 1000  # 尚未初始化
    broker.ok("POST", "/api/common/v1/Initial", {"name": CLOUD_SAM})
    broker.ok("POST", "/api/sam/v1/Verification")
    broker.ok("POST", "/api/hpc/v1/Verification/Hpc", {"pin": broker.pin_of(HPC)})

    registration_and_consultation(broker, PATIENT, HPC)
    logout_keeps_the_card_in_the_reader(broker, PATIENT, HPC)
    next_patient_with_a_virtual_card(broker)
    finalize_leaves_nothing_verified(broker, CLOUD_SAM, PATIENT)
    # Nothing of the virtual patient is left: the data read now is the card in the reader's.
    assert broker.ok("GET", "/api/hc/v1/BasicData")["cardId"] == PATIENT


def verify_on_the_pad(broker: Broker, pin: str) -> dict[str, Any]:
    """HPC Verification with the placeholder PIN, while the holder types ``pin`` on the pad."""
    answers: list[dict[str, Any]] = []
    verifying = threading.Thread(
        target=lambda: answers.append(
            broker.call("POST", "/api/hpc/v1/Verification/Hpc", {"pin": PLACEHOLDER_PIN})
        )
    )
    verifying.start()
    deadline = time.monotonic() + 20
    while not broker.status()["pinPadWaiting"]:  # what the console shows: 請在讀卡機上輸入 PIN
        assert time.monotonic() < deadline, "the reader's pad never asked for the PIN"
        assert verifying.is_alive(), answers
    broker.ok("POST", "/api/sim/v1/PinPad", {"reader": "COM1", "pin": pin})
    verifying.join(timeout=30)
    assert not broker.status()["pinPadWaiting"]
    return answers[0]


def test_a_visit_on_the_dedicated_serial_reader_takes_the_pin_on_its_pad(fresh: Broker) -> None:
    broker = fresh
    broker.ok("POST", "/api/common/v1/Initial", {"name": "COM1"})
    broker.ok("POST", "/api/sam/v1/Verification")  # a physical SAM is verified only when asked
    # The placeholder is never sent to the card: were it sent, the doctor's PIN (222222) would
    # be wrong (1410) and a try burnt. Twice, as two app starts would.
    for _ in range(2):
        assert verify_on_the_pad(broker, broker.pin_of(COM1_DOCTOR))["statusCode"] == 0
        broker.ok("DELETE", "/api/hpc/v1/Logout")
    assert verify_on_the_pad(broker, broker.pin_of(COM1_DOCTOR))["statusCode"] == 0

    registration_and_consultation(broker, COM1_PATIENT, COM1_DOCTOR)
    logout_keeps_the_card_in_the_reader(broker, COM1_PATIENT, COM1_DOCTOR)
    next_patient_with_a_virtual_card(broker)
    finalize_leaves_nothing_verified(broker, "COM1", COM1_PATIENT)


def test_a_pad_left_waiting_says_so_and_no_try_is_used(fresh: Broker) -> None:
    broker = fresh
    broker.ok("POST", "/api/common/v1/Initial", {"name": "COM1"})
    broker.ok("POST", "/api/sam/v1/Verification")
    answers: list[dict[str, Any]] = []
    verifying = threading.Thread(
        target=lambda: answers.append(
            broker.call("POST", "/api/hpc/v1/Verification/Hpc", {"pin": PLACEHOLDER_PIN})
        )
    )
    verifying.start()
    deadline = time.monotonic() + 20
    while not broker.status()["pinPadWaiting"]:
        assert time.monotonic() < deadline, "the reader's pad never asked for the PIN"
    broker.ok("POST", "/api/sim/v1/PinPad", {"reader": "COM1", "cancel": True})
    verifying.join(timeout=30)
    assert answers[0]["statusCode"] == 1402, answers  # 醫事人員卡進入模式三失敗
    assert "cancelled" in answers[0]["detail"]
    assert broker.status()["hpc"]["status"] == 2
    not_waiting = broker.call("POST", "/api/sim/v1/PinPad", {"reader": "COM1", "pin": "222222"})
    assert (not_waiting["statusCode"], "not waiting" in not_waiting["detail"]) == (1704, True)
