"""A bad configuration file is refused in one line: the file, the key path, what was expected.

Each case is tried as a new user meets it (``nhi-broker serve --config FILE``) and
through ``config.load``; the shipped files must still load.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from broker import config
from broker.config import ConfigError
from broker.errors import BrokerError

NHI_BROKER = Path(sys.executable).parent / "nhi-broker"


class Bad(NamedTuple):
    """A configuration file's text, the key path the error names, and what it expects."""

    text: str
    key: str
    expected: str


TWO_STATIONS = '[[stations]]\nname = "local"\n[[stations]]\nname = "b"\n'
BAD = {
    "a mistyped key": Bad("[server]\nprot = 5066\n", "server.prot", "did you mean 'port'?"),
    "a table's key above every table": Bad(
        "prot = 5066\n", "prot", "did you mean 'port' in [server]?"
    ),
    "a mistyped table": Bad("[pscs]\nenabled = true\n", "pscs", "did you mean 'pcsc'?"),
    "a quoted boolean": Bad(
        '[pcsc]\nenabled = "false"\n', "pcsc.enabled", "expected true or false, got a string"
    ),
    "a quoted port": Bad(
        '[server]\nport = "5066"\n', "server.port", "expected an integer, got a string"
    ),
    "a negative timeout": Bad("[dc]\ntimeout = -1\n", "dc.timeout", "expected a number > 0"),
    "a port out of range": Bad(
        "[server]\nport = 70000\n", "server.port", "expected an integer <= 65535"
    ),
    "a mistyped profile": Bad(
        'profile = "hardwre"\n', "profile", "expected one of 'sim', 'hardware', got 'hardwre'"
    ),
    "one station table for an array of them": Bad(
        '[stations]\nname = "local"\n', "stations", "write [[stations]], not [stations]"
    ),
    "a mistyped restart key": Bad(
        "[restart]\nmax_restart = 3\n", "restart.max_restart", "did you mean 'max_restarts'?"
    ),
    "a quoted restart window": Bad(
        '[restart]\nwindow = "60"\n', "restart.window", "expected a number, got a string"
    ),
    "a number for a reader name": Bad(
        TWO_STATIONS + "hc_reader = 5\n",
        "stations[1].hc_reader",
        "expected a string, got an integer",
    ),
    "a station without a name": Bad(
        "[[stations]]\nserial = 'COM1'\n", "stations[0].name", "required"
    ),
    "a token instead of its hash": Bad(
        '[server]\nadmin_token_sha256 = "secret"\n',
        "server.admin_token_sha256",
        "expected 64 lowercase hex digits",
    ),
    "no local station": Bad(
        '[[stations]]\nname = "desk"\n', "stations", "a station named 'local' is required"
    ),
    "one reader in two stations": Bad(
        '[[stations]]\nname = "local"\nhc_reader = "R0"\n[[stations]]\nname = "b"\n'
        'hca_reader = "R0"\n',
        "stations[1].hca_reader",
        "'R0' is in 'local' and 'b'",
    ),
    "a station name twice": Bad(
        TWO_STATIONS + '[[stations]]\nname = "local"\n',
        "stations[2].name",
        "names must be unique: 'local' is there twice",
    ),
    "a station on a serial reader not configured": Bad(
        '[[stations]]\nname = "local"\nserial = "COM7"\n',
        "stations[0].serial",
        "no [[serial]] named COM7",
    ),
}


@pytest.fixture(params=list(BAD), ids=list(BAD))
def bad(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Bad]:
    case = BAD[request.param]
    path = tmp_path / "broker.toml"
    path.write_text(case.text, encoding="utf-8")
    return path, case


def serve_with(path: Path) -> subprocess.CompletedProcess[str]:
    """``nhi-broker serve --config path``, run to its end (these refuse to start)."""
    return subprocess.run(
        [NHI_BROKER, "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_refuses_a_bad_configuration_in_one_line_naming_file_key_and_expectation(
    bad: tuple[Path, Bad],
) -> None:
    path, case = bad
    shown = serve_with(path)
    assert shown.returncode == 2
    assert "Traceback" not in shown.stderr
    lines = shown.stderr.strip().splitlines()
    assert len(lines) == 1, shown.stderr
    assert lines[0].startswith(f"nhi-broker: {path}: {case.key}: "), lines[0]
    assert case.expected in lines[0]


def test_load_refuses_a_bad_configuration_naming_file_key_and_expectation(
    bad: tuple[Path, Bad],
) -> None:
    path, case = bad
    with pytest.raises(ConfigError) as refused:
        config.load(path)
    assert refused.value.source == str(path)
    assert refused.value.key == case.key
    assert case.expected in refused.value.problem
    assert str(refused.value) == f"{path}: {case.key}: {refused.value.problem}"


def test_a_configuration_error_carries_no_api_status_code() -> None:
    assert not issubclass(ConfigError, BrokerError)


def test_a_file_that_is_not_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broker.toml"
    path.write_text("[server\nport = 1\n", encoding="utf-8")
    shown = serve_with(path)
    assert shown.returncode == 2
    assert shown.stderr.strip().splitlines() == [
        f"nhi-broker: {path} is not valid TOML: Expected ']' at the end of a table declaration"
        " (at line 1, column 8)"
    ]


@pytest.mark.parametrize("name", ["default.toml", "hardware.example.toml"])
def test_the_shipped_configurations_load(name: str) -> None:
    loaded = config.load(config.PROFILES / name)
    assert loaded.station(config.LOCAL).name == config.LOCAL


def test_the_hardware_example_names_the_grant_key_setting() -> None:
    text = (config.PROFILES / "hardware.example.toml").read_text(encoding="utf-8")
    assert "# grant_public_key = " in text
    assert "the data centre's grant key that signs .SAM files" in text
    trusted = config.parse({"dc": {"grant_public_key": "/etc/nhi-broker/dc-grant.pem"}})
    assert trusted.dc.grant_public_key == "/etc/nhi-broker/dc-grant.pem"
    assert config.parse({}).dc.grant_public_key is None
