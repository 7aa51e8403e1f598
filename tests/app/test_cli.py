"""The ``nhi-broker`` command line: help everywhere, and the kit commands really serve."""

from __future__ import annotations

import importlib.metadata
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from broker import config
from nhi_kit.emulators.kit import CardKit

NHI_BROKER = Path(sys.executable).parent / "nhi-broker"


@pytest.mark.parametrize(
    "command", [[], ["serve"], ["kit"], ["kit", "vpcd"], ["kit", "serial"], ["kit", "dc"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    shown = subprocess.run(
        [NHI_BROKER, *command, "--help"], capture_output=True, text=True, timeout=30, check=True
    )
    assert "usage: nhi-broker" in shown.stdout


def kit_cards_table() -> dict[str, list[str]]:
    """``kit cards`` as card id → its columns (columns are two or more spaces apart)."""
    shown = subprocess.run(
        [NHI_BROKER, "kit", "cards"], capture_output=True, text=True, timeout=30, check=True
    )
    header, *lines = shown.stdout.splitlines()
    assert re.split(r"\s{2,}", header)[:6] == [
        "card",
        "kind",
        "env",
        "PIN",
        "PUK",
        "where (sim profile)",
    ]
    return {columns[0]: columns for columns in (re.split(r"\s{2,}", line) for line in lines)}


def test_kit_cards_lists_every_card_of_the_kit() -> None:
    table = kit_cards_table()
    assert set(table) == set(CardKit().ids())
    assert table["900000000711"][-1] == "吳佳蓉"


def test_kit_cards_shows_pin_and_puk_of_test_cards_only() -> None:
    table = kit_cards_table()
    doctor = table["100000291539"]  # 測試醫師7
    assert doctor[1:5] == ["hpc", "test", "222222", "22222222"]
    assert table["900000000728"][3] == "123456"  # a health card with a PIN set
    formal = table["000000123456"]  # 正式醫師: an emulated formal card, still never shown
    assert formal[1:5] == ["hpc", "formal", "-", "-"]


def test_kit_cards_shows_where_the_sim_profile_puts_each_card() -> None:
    profile = config.sim_profile()
    table = kit_cards_table()
    for reader, card in profile.sim.readers.items():
        if card:
            assert table[card][5] == reader
    for slot, card in profile.sim.serial["COM1"].items():
        assert table[card][5] == f"COM1 {slot}"
    for sam in profile.sim.cloud_sams:
        assert table[sam][5] == "cloud SAM"
    assert table["900000000759"][5] == "-"  # in the kit, in no reader


def nhi_broker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NHI_BROKER, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_version_prints_the_package_version() -> None:
    shown = nhi_broker("--version")
    assert shown.returncode == 0
    assert shown.stdout.strip() == f"nhi-broker {importlib.metadata.version('nhi-broker')}"


@pytest.mark.parametrize(
    "args",
    [
        ["--log-level", "debug", "--log-format", "json", "serve"],
        ["serve", "--log-level", "debug", "--log-format", "json"],
        ["serve", "--log-format", "console", "--log-level", "trace"],
    ],
)
def test_log_options_are_taken_before_and_after_the_command(
    args: list[str], tmp_path: Path
) -> None:
    # refused at once (not loopback, no tokens): the options were parsed, nothing started
    shown = nhi_broker(*args, "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path))
    assert shown.returncode == 2
    assert "without station tokens" in shown.stderr


def test_a_log_level_after_the_command_is_checked_too() -> None:
    shown = nhi_broker("kit", "cards", "--log-level", "nonsense")
    assert shown.returncode == 2
    assert "invalid choice: 'nonsense'" in shown.stderr


PROBE = """
import sys
import structlog
from nhi_broker.cli import main
main(sys.argv[1:])
structlog.get_logger("probe").debug("probe.debug")
structlog.get_logger("probe").info("probe.info")
"""


def probe(tmp_path: Path, *args: str) -> list[str]:
    """The log lines after running ``nhi-broker ARGS`` in-process, stderr being a pipe."""
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    shown = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=60, check=True
    )
    return [line for line in shown.stderr.splitlines() if "probe." in line]


def test_log_level_after_the_command_turns_on_debug_lines(tmp_path: Path) -> None:
    lines = probe(tmp_path, "kit", "cards", "--log-level", "debug")
    assert [json.loads(line)["event"] for line in lines] == ["probe.debug", "probe.info"]
    assert [json.loads(line)["event"] for line in probe(tmp_path, "kit", "cards")] == ["probe.info"]


@pytest.mark.parametrize(("log_format", "is_json"), [("json", True), ("console", False)])
def test_log_format_chooses_json_or_console_lines(
    tmp_path: Path, log_format: str, is_json: bool
) -> None:
    [line] = probe(tmp_path, "kit", "cards", "--log-format", log_format)
    assert line.startswith("{") is is_json


def test_log_lines_are_for_people_on_a_terminal_by_default(tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    pid, terminal = pty.fork()
    if pid == 0:  # the child: stderr is the terminal
        os.execv(sys.executable, [sys.executable, str(script), "kit", "cards"])
    seen = b""
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.waitpid(pid, 0)
    [line] = [x for x in seen.decode().splitlines() if "probe.info" in x]
    assert not line.lstrip().startswith("{")
