"""Wiring a running broker from its configuration: transports, kit, data centre, actors."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from actors.hardware import BrokerSettings, Hardware, MonitorSpec, ReaderSpec
from actors.supervisor import Supervisor
from broker.cards.sam_applet import SamApplet
from broker.cloud_sam import CloudSamFile
from broker.config import CONFIGURATION, BrokerConfig, ConfigError, SerialConfig
from broker.dc.client import DcClient, DcConfig
from broker.errors import PortOpenError
from broker.formats import Migration
from broker.settings import Settings
from broker.state import StateBoard
from broker.store import CloudSamStore, SealIdentity
from broker.transport.base import CardSlot, SlotListener
from broker.transport.local import LocalSlot
from broker.transport.pcsc import PcscMonitor, PcscSlot, list_readers, pcscd_reachable
from broker.transport.serial import SerialReader
from broker.transport.serial_frames import Slot
from broker.transport.serial_monitor import SerialMonitor
from nhi_kit.cloud.cloud import Cloud
from nhi_kit.cloud.server import CloudSimulator
from nhi_kit.cloud.store import CloudStore
from nhi_kit.dcsim.server import DcSimulator
from nhi_kit.emulators.cloud_sam_files import kit_cloud_sam
from nhi_kit.emulators.dc.simulator import DataCentre
from nhi_kit.emulators.keys import ec_key
from nhi_kit.emulators.kit import CardKit
from nhi_kit.emulators.serial_reader import SerialReaderEmulator
from nhi_kit.sim_kit import SimKit

FIRST_SIM_READER = "Virtual Reader 0"
PROFILES = ("sim", "hardware")
# The sim profile's simulators keep their files here, under the data directory
# (``kit dc`` and ``kit cloud`` alone too, under the default one).
DC_SIMULATOR_DIR = "dc-simulator"
CLOUD_SIMULATOR_DIR = "cloud-simulator"
log = structlog.get_logger("nhi_broker.assembly")
Closers = list[Callable[[], None]]


@dataclass
class RunningBroker:
    """Everything a running broker holds; ``close`` stops it in reverse order."""

    config: BrokerConfig
    supervisor: Supervisor
    board: StateBoard
    settings: Settings
    store: CloudSamStore
    dc: DcClient
    kit: SimKit | None = None
    serial_readers: dict[str, SerialReader] = field(default_factory=dict)
    _closers: Closers = field(default_factory=list)

    def close(self) -> None:
        """Stop actors, transports, the kit."""
        self.supervisor.stop()
        _close_all(self._closers)


def data_directories(config: BrokerConfig) -> list[Path]:
    """The directories a broker of ``config`` writes to: its data directory, and in the sim
    profile its simulators' (which ``kit dc`` and ``kit cloud`` alone may use too)."""
    data_dir = config.data_dir
    if config.profile != "sim":
        return [data_dir]
    return [data_dir, data_dir / DC_SIMULATOR_DIR, data_dir / CLOUD_SIMULATOR_DIR]


def assemble(config: BrokerConfig, *, seal_identity: SealIdentity | None = None) -> RunningBroker:
    """Build and start a broker: the sim profile with its kit, or the hardware profile.

    ``seal_identity``: whom the cloud-SAM store is sealed for, this host and user
    unless given (only tests give it, to open a store made elsewhere).
    Whatever was started before a failure is stopped again before the error propagates.
    """
    if config.profile not in PROFILES:
        raise ValueError(f"unknown profile {config.profile!r}; expected one of {PROFILES}")
    data_dir = config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    closers: Closers = []
    try:
        return _assemble(config, data_dir, closers, seal_identity)
    except BaseException:
        _close_all(closers)
        raise


def _assemble(
    config: BrokerConfig, data_dir: Path, closers: Closers, seal_identity: SealIdentity | None
) -> RunningBroker:
    settings = Settings(data_dir)
    store = CloudSamStore(data_dir, trusted_grant_key(config), identity=seal_identity)
    kit: SimKit | None = None
    serial_readers: dict[str, SerialReader] = {}
    if config.profile == "sim":
        kit, dc, hardware = _sim(config, data_dir, settings, store, serial_readers, closers)
    else:
        dc, hardware = _hardware(config, data_dir, store, serial_readers, closers)
    cloud = kit.cloud.cloud.store.migration if kit is not None and kit.cloud is not None else None
    log_migrations(data_dir, [settings.migration, store.migration, cloud])
    board = StateBoard()
    supervisor = Supervisor(
        config.stations,
        hardware,
        dc,
        BrokerSettings(
            device_id=settings.device_id,
            default_reader=lambda: settings.default_pcsc_reader,
            last_device=lambda: settings.last_device,
            remember_device=settings.set_last_device,
        ),
        board,
        config.restart,
    )
    try:
        supervisor.start()
    except BaseException:
        supervisor.stop()
        raise
    return RunningBroker(
        config, supervisor, board, settings, store, dc, kit, serial_readers, closers
    )


def trusted_grant_key(config: BrokerConfig) -> ec.EllipticCurvePublicKey | None:
    """The data centre's key that .SAM files must be signed with.

    The kit's key is trusted by the sim profile only: its private half is in the
    kit, so anyone could sign a file with it. The hardware profile trusts the key
    its configuration names (``[dc] grant_public_key``), or none.
    """
    if config.profile == "sim":
        return ec_key("dc-grant").public_key()
    path = config.dc.grant_public_key
    if path is None:
        log.warning("cloud_sam.no_trusted_key", note="[dc] grant_public_key is not set")
        return None
    try:
        key = serialization.load_pem_public_key(Path(path).expanduser().read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            CONFIGURATION, f"cannot read a PEM public key from {path}", key="dc.grant_public_key"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError(
            CONFIGURATION, f"{path} is not an EC public key", key="dc.grant_public_key"
        )
    return key


def log_migrations(data_dir: Path, migrations: list[Migration | None]) -> None:
    """One line naming every stored file opening upgraded to this release's format, if any."""
    done = [migration.describe(data_dir) for migration in migrations if migration is not None]
    if done:
        log.info("data_dir.migrated", data_dir=str(data_dir), files=done)


def _close_all(closers: Closers) -> None:
    for closer in reversed(closers):
        with contextlib.suppress(Exception):
            closer()


def _start_dc_simulator(
    config: BrokerConfig, data_dir: Path, closers: Closers
) -> tuple[DcSimulator, DcClient]:
    """The kit's data centre, in process on loopback, and a client trusting its certificate."""
    simulator = DcSimulator(DataCentre.kit(), data_dir / DC_SIMULATOR_DIR)
    simulator.start()
    closers.append(simulator.stop)
    client = DcClient(
        DcConfig(simulator.url, timeout=config.dc.timeout, ca_file=str(simulator.cert_path))
    )
    return simulator, client


def start_cloud_simulator(
    directory: Path, dc: DataCentre | None, port: int | None = None
) -> CloudSimulator:
    """The kit's NHI cloud, started, checking virtual cards against ``dc`` when there is one;
    ``port`` None takes the port of its last run if free."""
    cloud = Cloud(CloudStore(directory), vhc_ids=dc.vhc_ids if dc is not None else None)
    simulator = CloudSimulator(cloud, directory, port=port)
    simulator.start()
    return simulator


def _sim(
    config: BrokerConfig,
    data_dir: Path,
    settings: Settings,
    store: CloudSamStore,
    serial_readers: dict[str, SerialReader],
    closers: Closers,
) -> tuple[SimKit, DcClient, Hardware]:
    cards = CardKit()
    simulator, dc = _start_dc_simulator(config, data_dir, closers)
    cloud = start_cloud_simulator(data_dir / CLOUD_SIMULATOR_DIR, simulator.dc)
    closers.append(cloud.stop)
    if not store.list():
        for sam_id in config.sim.cloud_sams:
            store.import_file(*kit_cloud_sam(sam_id))
    if settings.last_device is None and config.sim.last_device:
        settings.set_last_device(config.sim.last_device)
    if settings.default_pcsc_reader is None and FIRST_SIM_READER in config.sim.readers:
        settings.set_default_pcsc_reader(FIRST_SIM_READER)
    slots = {name: LocalSlot(name) for name in config.sim.readers}
    for name, card_id in config.sim.readers.items():
        if card_id:
            slots[name].insert(cards.card(card_id))
    readers = [ReaderSpec(name, {name: slot}) for name, slot in slots.items()]
    monitors = [_local_monitor(list(slots.values()))]
    emulators: dict[str, SerialReaderEmulator] = {}
    for serial in config.serial:
        emulator, spec, monitor = _sim_serial(
            serial, config.sim.serial.get(serial.name, {}), cards, closers
        )
        emulators[serial.name] = emulator
        assert isinstance(spec.clock, SerialReader)
        serial_readers[serial.name] = spec.clock
        readers.append(spec)
        monitors.append(monitor)
    if config.pcsc:  # pcscd's readers too, e.g. a vpcd slot holding a kit card
        pcsc_readers, pcsc_monitor = pcsc_hardware(exclude=set(slots), closers=closers)
        readers.extend(pcsc_readers)
        monitors.append(pcsc_monitor)
    return (
        SimKit(cards, slots, emulators, simulator, cloud),
        dc,
        _with_cloud_sams(readers, monitors, store),
    )


def _with_cloud_sams(
    readers: list[ReaderSpec], monitors: list[MonitorSpec], store: CloudSamStore
) -> Hardware:
    return Hardware(
        readers=readers,
        monitors=monitors,
        cloud_sam_ids=lambda: [entry.sam_id for entry in store.list()],
        cloud_sam_slot=lambda sam_id: cloud_sam_slot(store.get(sam_id)),
    )


def _hardware(
    config: BrokerConfig,
    data_dir: Path,
    store: CloudSamStore,
    serial_readers: dict[str, SerialReader],
    closers: Closers,
) -> tuple[DcClient, Hardware]:
    """Real readers (pcscd's, serial ones) and the configured data centre."""
    if config.dc.url == "sim":
        raise ConfigError(
            CONFIGURATION,
            "the hardware profile needs the data centre's https:// address "
            '(url = "sim" is the sim profile\'s simulator)',
            key="dc.url",
        )
    dc = DcClient(DcConfig(config.dc.url, timeout=config.dc.timeout, ca_file=config.dc.ca_file))
    readers: list[ReaderSpec] = []
    monitors: list[MonitorSpec] = []
    if config.pcsc:
        readers, pcsc_monitor = pcsc_hardware(exclude=set(), closers=closers)
        monitors.append(pcsc_monitor)
    for serial in config.serial:
        reader = open_serial_reader(serial, closers)
        serial_readers[serial.name] = reader
        readers.append(serial_spec(serial.name, reader))
        monitors.append(serial_monitor(serial.name, reader))
    return dc, _with_cloud_sams(readers, monitors, store)


def pcsc_hardware(exclude: set[str], closers: Closers) -> tuple[list[ReaderSpec], MonitorSpec]:
    """A reader per pcscd reader present now (names in ``exclude`` skipped), and their monitor.

    Readers plugged in later are not picked up yet (the supervisor has no slot for them).
    """
    names = [name for name in list_readers() if name not in exclude]
    if not names and not pcscd_reachable():
        # Its monitor warns that pcscd is unreachable, once, and keeps looking.
        log.info("pcsc.no_readers", note="pcscd is not running")
    elif not names:
        log.warning("pcsc.no_readers", note="pcscd offers no reader")
    else:
        log.info("pcsc.readers", readers=names)
    slots = [PcscSlot(name) for name in names]
    closers.extend(slot.close for slot in slots)

    def start(listener: SlotListener, failed: Callable[[BaseException], None]) -> Any:
        monitor = PcscMonitor(listener, readers=names, on_failure=failed)
        monitor.start()
        return monitor

    readers = [ReaderSpec(slot.name, {slot.name: slot}) for slot in slots]
    return readers, MonitorSpec("pcsc", start)


def open_serial_reader(serial: SerialConfig, closers: Closers) -> SerialReader:
    """A serial NHI reader at its configured port; if the port is missing now, its
    monitor keeps trying to open it (a USB adapter plugged in later)."""
    reader = SerialReader(serial.url, name=serial.name, pin_pad_timeout=serial.pin_pad_timeout)
    try:
        reader.open()
    except PortOpenError as exc:
        log.warning("serial.unavailable", reader=serial.name, url=serial.url, error=str(exc))
    closers.append(reader.close)
    return reader


def cloud_sam_slot(file: CloudSamFile) -> CardSlot:
    """A cloud SAM: the SAM application run in process from its imported file."""
    slot = LocalSlot(f"cloud SAM {file.sam_id}")
    slot.insert(
        SamApplet(file.identity, file.private_key, file.dc_grant_public_key, file.issuer_masters)
    )
    return slot


def _sim_serial(
    serial: SerialConfig, cards_by_slot: dict[str, str], cards: CardKit, closers: Closers
) -> tuple[SerialReaderEmulator, ReaderSpec, MonitorSpec]:
    name = serial.name
    emulator = SerialReaderEmulator(name, pin_pad_timeout=serial.pin_pad_timeout)
    reader = SerialReader(emulator.start(), name=name, pin_pad_timeout=serial.pin_pad_timeout)
    reader.open()
    closers.append(emulator.stop)
    closers.append(reader.close)
    for slot, card_id in cards_by_slot.items():
        emulator.insert(slot, cards.card(card_id))
    return emulator, serial_spec(name, reader), serial_monitor(name, reader)


def serial_spec(name: str, reader: SerialReader) -> ReaderSpec:
    """A serial reader's three slots, its clock, and which slot holds what."""
    return ReaderSpec(
        name,
        {reader.slot_name(s): reader.slot(s) for s in Slot},
        clock=reader,
        sam_slot=reader.slot_name(Slot.SAM),
        hpc_slot=reader.slot_name(Slot.HPC),
        hc_slot=reader.slot_name(Slot.HC),
    )


def serial_monitor(name: str, reader: SerialReader) -> MonitorSpec:
    """STATUS polling of a serial reader, restartable."""

    def start(listener: SlotListener, failed: Callable[[BaseException], None]) -> Any:
        if not reader.is_open:
            reader.open()  # the reader came back (a USB serial adapter re-plugged)
        monitor = SerialMonitor(reader, listener, on_failure=failed)
        monitor.start()
        return monitor

    return MonitorSpec(f"serial {name}", start)


def _local_monitor(slots: list[LocalSlot]) -> MonitorSpec:
    """In-process slots report inserts and removals directly."""

    class _Listening:
        def stop(self) -> None:
            for slot in slots:
                slot.set_listener(None)

        def is_alive(self) -> bool:
            return True

    def start(listener: SlotListener, _failed: Callable[[BaseException], None]) -> Any:
        for slot in slots:
            slot.set_listener(listener)
        return _Listening()

    return MonitorSpec("local readers", start)
