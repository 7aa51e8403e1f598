"""The broker's configuration (TOML): server, data centre, stations, readers, the sim kit.

``config/default.toml`` is the sim profile; ``config/hardware.example.toml``
explains every key for a clinic's reader host.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.errors import InvalidParameterError

REPO_CONFIG = Path(__file__).resolve().parent.parent / "config"
LOCAL = "local"


class ConfigError(InvalidParameterError):
    """The configuration file is wrong; the message names the key."""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/nhi-broker`` (``~/.local/share/nhi-broker``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nhi-broker"


@dataclass(frozen=True)
class StationConfig:
    """One HIS workstation's share of the reader host."""

    name: str
    token_sha256: str | None = None  # needed for callers that are not on loopback
    devices: tuple[str, ...] | None = None  # allowed device names; None: any
    serial: str | None = None  # the serial reader (COMn) whose slots this station uses
    hc_reader: str | None = None  # PC/SC reader for health cards (local: the settings' default)
    hca_reader: str | None = None  # PC/SC reader for HPCs (default: the HC reader)

    def readers(self) -> list[str]:
        """Every reader this station owns."""
        return [r for r in (self.serial, self.hc_reader, self.hca_reader) if r]


@dataclass(frozen=True)
class SerialConfig:
    """A serial NHI reader: its name (``COM1``) and port URL (``/dev/ttyUSB0``, or ``kit``)."""

    name: str
    url: str


@dataclass(frozen=True)
class RestartPolicy:
    """One-for-one restarts: exponential backoff, and an intensity limit as in Erlang/OTP."""

    max_restarts: int = 5  # more than this many …
    window: float = 60.0  # … within this many seconds marks the station degraded
    backoff_initial: float = 0.05
    backoff_max: float = 5.0


@dataclass(frozen=True)
class DcSettings:
    """Where the data centre is (``sim``: the kit's simulator, in process)."""

    url: str = "sim"
    timeout: float = 5.0
    ca_file: str | None = None


@dataclass(frozen=True)
class SimConfig:
    """The virtual kit: in-process readers and the cards in them."""

    readers: dict[str, str | None] = field(default_factory=dict)  # reader → card id
    serial: dict[str, dict[str, str]] = field(default_factory=dict)  # COMn → slot → card id
    cloud_sams: tuple[str, ...] = ()  # imported at first start
    last_device: str | None = None  # what Initial without a name tries first, at first start


@dataclass(frozen=True)
class BrokerConfig:
    """Everything a running broker needs to know."""

    profile: str
    host: str = "127.0.0.1"
    port: int = 5066
    tls: bool = True
    names: tuple[str, ...] = ()  # the host's names and addresses LAN stations call it by
    data_dir: Path = field(default_factory=default_data_dir)
    admin_token_sha256: str | None = None
    pcsc: bool = False
    dc: DcSettings = field(default_factory=DcSettings)
    stations: tuple[StationConfig, ...] = (StationConfig(LOCAL),)
    serial: tuple[SerialConfig, ...] = ()
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    sim: SimConfig = field(default_factory=SimConfig)

    def station(self, name: str) -> StationConfig:
        """A station by name; KeyError if there is none."""
        for station in self.stations:
            if station.name == name:
                return station
        raise KeyError(name)


def load(path: Path) -> BrokerConfig:
    """Read and check a configuration file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse(raw)


def sim_profile() -> BrokerConfig:
    """The embedded default: ``config/default.toml``."""
    return load(REPO_CONFIG / "default.toml")


def parse(raw: dict[str, Any]) -> BrokerConfig:
    """Build and check a configuration from parsed TOML."""
    server = _table(raw, "server")
    dc = _table(raw, "dc")
    restart = _table(raw, "restart")
    sim = _table(raw, "sim")
    config = BrokerConfig(
        profile=str(raw.get("profile", "hardware")),
        host=str(server.get("host", "127.0.0.1")),
        port=int(server.get("port", 5066)),
        tls=bool(server.get("tls", True)),
        names=tuple(str(name) for name in server.get("names", ())),
        data_dir=Path(server["data_dir"]).expanduser()
        if "data_dir" in server
        else default_data_dir(),
        admin_token_sha256=server.get("admin_token_sha256"),
        pcsc=bool(raw.get("pcsc", {}).get("enabled", False)),
        dc=DcSettings(str(dc.get("url", "sim")), float(dc.get("timeout", 5.0)), dc.get("ca_file")),
        stations=tuple(_station(s) for s in raw.get("stations", [{"name": LOCAL}])),
        serial=tuple(SerialConfig(str(s["name"]), str(s["url"])) for s in raw.get("serial", [])),
        restart=RestartPolicy(**restart),
        sim=SimConfig(
            readers=dict(sim.get("readers", {})),
            serial={k: dict(v) for k, v in sim.get("serial", {}).items()},
            cloud_sams=tuple(sim.get("cloud_sams", ())),
            last_device=sim.get("last_device"),
        ),
    )
    check(config)
    return config


def check(config: BrokerConfig) -> None:
    """Refuse a configuration that cannot work: shared readers, unknown serial readers."""
    names = [s.name for s in config.stations]
    if LOCAL not in names:
        raise ConfigError("stations: a station named 'local' is required")
    if len(set(names)) != len(names):
        raise ConfigError("stations: names must be unique")
    owners: dict[str, str] = {}
    for station in config.stations:
        for reader in set(station.readers()):
            if reader in owners:
                raise ConfigError(
                    f"stations: {reader!r} is in {owners[reader]!r} and {station.name!r}"
                )
            owners[reader] = station.name
    serial_names = {s.name for s in config.serial}
    for station in config.stations:
        if station.serial and station.serial not in serial_names:
            raise ConfigError(
                f"stations.{station.name}.serial: no [[serial]] named {station.serial}"
            )


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _station(raw: dict[str, Any]) -> StationConfig:
    if "name" not in raw:
        raise ConfigError("stations: every station needs a name")
    devices = raw.get("devices")
    return StationConfig(
        name=str(raw["name"]),
        token_sha256=raw.get("token_sha256"),
        devices=tuple(devices) if devices is not None else None,
        serial=raw.get("serial"),
        hc_reader=raw.get("hc_reader"),
        hca_reader=raw.get("hca_reader"),
    )
