"""Configuration: the embedded sim profile loads; impossible configurations are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from broker import config
from broker.config import ConfigError

EXAMPLE = config.PROFILES / "hardware.example.toml"


def test_the_sim_profile_has_a_local_station_and_another() -> None:
    profile = config.sim_profile()
    assert profile.profile == "sim"
    assert [s.name for s in profile.stations][:1] == ["local"]
    assert len(profile.stations) >= 2
    assert profile.station("desk2").devices == ("901000000047",)
    assert profile.sim.serial["COM1"]["SAM"] == "900000000101"


def test_the_hardware_example_is_a_valid_configuration() -> None:
    example = config.load(EXAMPLE)
    assert example.profile == "hardware"
    assert example.pcsc
    assert example.serial[0].url == "/dev/ttyUSB0"


def _stations(*stations: dict[str, Any]) -> dict[str, Any]:
    return {"stations": list(stations), "serial": [{"name": "COM1", "url": "kit"}]}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_stations({"name": "desk"}), "'local' is required"),
        (_stations({"name": "local"}, {"name": "local"}), "unique"),
        (
            _stations({"name": "local", "hc_reader": "R0"}, {"name": "b", "hca_reader": "R0"}),
            "'R0' is in 'local' and 'b'",
        ),
        (_stations({"name": "local", "serial": "COM7"}), r"no \[\[serial\]\] named COM7"),
        (_stations({"devices": []}), r"stations\[0\]\.name: required key is missing"),
        ({"server": "x"}, "server: expected a table, got a string"),
        ({"server": {"names": "reader-host"}}, r"server\.names: expected an array"),
        ({"server": {"names": ["reader host"]}}, "a host name or an IP address"),
        ({"server": {"names": ["*.clinic.lan"]}}, "a host name or an IP address"),
        ({"server": {"names": [5066]}}, r"server\.names\[0\]: expected a string"),
    ],
)
def test_impossible_configurations_are_refused_naming_the_key(
    raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        config.parse(raw)


def test_the_server_names_stations_call_the_host_by_are_read() -> None:
    names = ["reader-host.clinic.lan", "192.168.1.20"]
    assert config.parse({"server": {"names": names}}).names == tuple(names)
    assert config.parse({}).names == ()


def test_a_broken_file_is_refused_with_its_path(tmp_path: Path) -> None:
    broken = tmp_path / "broker.toml"
    broken.write_text("[server\nport = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broker\.toml"):
        config.load(broken)


def test_server_names_are_the_lan_names_and_addresses_of_the_host() -> None:
    parsed = config.parse(
        {"server": {"names": ["reader-host.clinic.lan", "192.168.1.20", "fe80::1", "READER2"]}}
    )
    assert parsed.names == ("reader-host.clinic.lan", "192.168.1.20", "fe80::1", "READER2")
    assert config.parse({}).names == ()
