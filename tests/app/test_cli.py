"""The ``nhi-broker`` command line: help everywhere, and the kit commands really serve."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from broker.dc.client import DcClient, DcConfig
from broker.emulators.kit import CardKit

NHI_BROKER = Path(sys.executable).parent / "nhi-broker"


@pytest.mark.parametrize(
    "command", [[], ["serve"], ["kit"], ["kit", "vpcd"], ["kit", "serial"], ["kit", "dc"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    shown = subprocess.run(
        [NHI_BROKER, *command, "--help"], capture_output=True, text=True, timeout=30, check=True
    )
    assert "usage: nhi-broker" in shown.stdout


def test_kit_cards_lists_every_card_of_the_kit() -> None:
    shown = subprocess.run(
        [NHI_BROKER, "kit", "cards"], capture_output=True, text=True, timeout=30, check=True
    )
    listed = {line.split()[0] for line in shown.stdout.splitlines()}
    assert listed == set(CardKit().ids())
    assert "吳佳蓉" in shown.stdout


def test_kit_vpcd_refuses_an_unknown_card() -> None:
    shown = subprocess.run(
        [NHI_BROKER, "kit", "vpcd", "--card", "123"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert shown.returncode == 2
    assert "no card 123" in shown.stderr


def test_kit_dc_serves_the_simulator_until_stopped(tmp_path: Path) -> None:
    command = [NHI_BROKER, "kit", "dc", "--port", "0", "--control-port", "0"]
    process = subprocess.Popen(
        [*command, "--data-dir", str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:")
        client = DcClient(DcConfig(url, ca_file=str(tmp_path / "dc-simulator.crt")))
        assert len(client.server_time()) == 13
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
