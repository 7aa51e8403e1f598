"""The broker's configuration (TOML): server, data centre, stations, readers, the sim kit.

``config/default.toml`` is the sim profile; ``config/hardware.example.toml``
explains every key for a clinic's reader host. The file is validated against one
declared schema (``broker/config_schema.py``) with msgspec, which is strict about types
by default, refuses unknown keys and names the failing key path; the frozen dataclasses
here are what the broker runs on, so callers can ``dataclasses.replace`` them.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from broker.config_schema import ConfigFile, describe

T = TypeVar("T")
# config/'s files, shipped inside the package (broker/profiles links to them) so that an
# installed broker finds its embedded default too.
PROFILES = Path(__file__).resolve().parent / "profiles"
LOCAL = "local"
CONFIGURATION = "the configuration"  # where a configuration came from, when not a file


class ConfigError(Exception):
    """The configuration is wrong: one line naming the file, the key path and the expectation."""

    def __init__(self, source: str, problem: str, *, key: str | None = None) -> None:
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source} {problem}")


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
    pin_pad_timeout: float = 30.0  # seconds the broker waits for a PIN typed on the reader


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
    grant_public_key: str | None = None  # PEM: the data centre's grant key that signs .SAM files


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
    names: tuple[str, ...] = ()  # host names and addresses LAN stations call it by (certificate)
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
    """Read and check a configuration file; a ConfigError names the file and the key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"is not valid TOML: {exc}") from exc
    return parse(raw, source=str(path))


def sim_profile() -> BrokerConfig:
    """The embedded default: ``config/default.toml``."""
    return load(PROFILES / "default.toml")


def parse(raw: dict[str, Any], source: str = CONFIGURATION) -> BrokerConfig:
    """Validate parsed TOML against the schema (broker/config_schema.py) and check it."""
    try:
        file = msgspec.convert(raw, ConfigFile)
    except msgspec.ValidationError as exc:
        key, expected = describe(exc)
        raise ConfigError(source, expected, key=key) from None
    config = _from_file(file)
    check(config, source)
    return config


def _from_file(file: ConfigFile) -> BrokerConfig:
    server, sim = file.server, file.sim
    return BrokerConfig(
        profile=file.profile,
        host=server.host,
        port=server.port,
        tls=server.tls,
        names=server.names,
        data_dir=Path(server.data_dir).expanduser() if server.data_dir else default_data_dir(),
        admin_token_sha256=server.admin_token_sha256,
        pcsc=file.pcsc.enabled,
        dc=_plain(file.dc, DcSettings),
        stations=tuple(_plain(station, StationConfig) for station in file.stations),
        serial=tuple(_plain(serial, SerialConfig) for serial in file.serial),
        restart=_plain(file.restart, RestartPolicy),
        sim=SimConfig(
            readers=dict(sim.readers),
            serial={
                name: {slot: card for slot, card in msgspec.structs.asdict(slots).items() if card}
                for name, slots in sim.serial.items()
            },
            cloud_sams=sim.cloud_sams,
            last_device=sim.last_device,
        ),
    )


def _plain(table: msgspec.Struct, kind: type[T]) -> T:
    """The dataclass holding a validated table's keys (the names are the same)."""
    return kind(**msgspec.structs.asdict(table))


def check(config: BrokerConfig, source: str = CONFIGURATION) -> None:
    """Refuse a configuration that cannot work: shared readers, unknown serial readers."""
    if LOCAL not in [s.name for s in config.stations]:
        raise ConfigError(source, "a station named 'local' is required", key="stations")
    _check_names(config.stations, source)
    _check_readers(config.stations, source)
    serial_names = {s.name for s in config.serial}
    for index, station in enumerate(config.stations):
        if station.serial and station.serial not in serial_names:
            raise ConfigError(
                source, f"no [[serial]] named {station.serial}", key=f"stations[{index}].serial"
            )


def _check_names(stations: tuple[StationConfig, ...], source: str) -> None:
    seen: set[str] = set()
    for index, station in enumerate(stations):
        if station.name in seen:
            problem = f"names must be unique: {station.name!r} is there twice"
            raise ConfigError(source, problem, key=f"stations[{index}].name")
        seen.add(station.name)


def _check_readers(stations: tuple[StationConfig, ...], source: str) -> None:
    """A reader belongs to one station (its HC and HCA reader may be one and the same)."""
    owners: dict[str, str] = {}
    for index, station in enumerate(stations):
        for key in ("serial", "hc_reader", "hca_reader"):
            reader = getattr(station, key)
            if reader is None or owners.get(reader) == station.name:
                continue
            if reader in owners:
                problem = f"{reader!r} is in {owners[reader]!r} and {station.name!r}"
                raise ConfigError(source, problem, key=f"stations[{index}].{key}")
            owners[reader] = station.name
