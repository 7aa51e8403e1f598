"""``nhi-broker kit vpcd --card ID``: any PC/SC program sees the card and reads it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from broker.cards.records import HcProfile
from broker.errors import TransportError
from broker.transport.pcsc import PcscSlot
from nhi_kit.emulators.pcscd import wait_for_vpcd_ports
from tests.conftest import SETTLE

READER1 = "Virtual PCD 00 01"
NHI_BROKER = Path(sys.executable).parent / "nhi-broker"
PLAIN_PROGRAM = Path(__file__).parent / "plain_pyscard_read.py"


def test_kit_vpcd_card_is_read_by_a_plain_pcsc_program_until_stopped(pcscd: None) -> None:
    kit = subprocess.Popen(
        [NHI_BROKER, "kit", "vpcd", "--card", "900000000711", "--port", "35964"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert kit.stdout is not None
        announced = kit.stdout.readline()
        assert "900000000711" in announced
        assert "35964" in announced
        slot = PcscSlot(READER1)
        assert slot.wait_for_card(present=True, timeout=SETTLE)
        plain = subprocess.run(
            [sys.executable, PLAIN_PROGRAM, READER1, "200"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        profile_hex, _median_ms = plain.stdout.split()
        raw = bytes.fromhex(profile_hex)
        assert len(raw) == 57
        assert raw[12:18].decode("big5") == "吳佳蓉"
        assert HcProfile.decode(raw).id_no == "R88855084A"
    finally:
        kit.send_signal(signal.SIGTERM)
        kit.wait(timeout=SETTLE)
    assert kit.returncode == 0
    assert slot.wait_for_card(present=False, timeout=SETTLE)


def test_a_second_pcscd_is_refused_clearly_while_vpcds_ports_are_taken(pcscd: None) -> None:
    with pytest.raises(TransportError, match="port 35963 stayed in use"):
        wait_for_vpcd_ports(timeout=0.5)
