"""The supervisor: starts every actor in dependency order, stops them in reverse, restarts
what crashes (one-for-one, exponential backoff, a restart-intensity limit), routes card
events, and is the directory of devices the stations connect.

pykka has no supervision (FACTS, pykka traps 2–3): a restart is a new actor
behind the same ``ActorHandle``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import pykka
import structlog

from actors.base import ActorHandle, StateMovedError
from actors.hc import HcActor
from actors.hca import HcaActor
from actors.holder import Bind, Seen, Source
from actors.messages import Context
from actors.reader import CardSeen, ReaderActor, ReaderClock, Rescan, SlotChanged
from actors.sam import SamActor, SamCardSeen, SamCell
from actors.station import AT_ONCE, Binding, Call, Reconnect, StationActor, direct
from broker.codes import Code
from broker.config import LOCAL, RestartPolicy, StationConfig
from broker.dc.client import DcClient
from broker.errors import BrokerError
from broker.rules import Function
from broker.state import BoardEvent, SamStatus, SamType, StateBoard
from broker.transport.base import CardSlot, SlotEvent, SlotListener

log = structlog.get_logger("actors.supervisor")


class Monitor(Protocol):
    """A transport's insert/remove watcher."""

    def stop(self) -> None:
        """Stop watching."""
        ...

    def is_alive(self) -> bool:
        """Whether it still watches."""
        ...


FailureReport = Callable[[BaseException], None]


@dataclass(frozen=True)
class ReaderSpec:
    """A reader the broker owns: its slots, and which slot holds what in a serial reader."""

    name: str
    slots: dict[str, CardSlot]
    clock: ReaderClock | None = None
    sam_slot: str | None = None  # serial readers: "COM1 SAM"
    hpc_slot: str | None = None
    hc_slot: str | None = None


@dataclass(frozen=True)
class MonitorSpec:
    """How to start (and restart) one monitor."""

    name: str
    start: Callable[[SlotListener, FailureReport], Monitor]


@dataclass
class Hardware:
    """What the composition root hands the supervisor."""

    readers: list[ReaderSpec]
    monitors: list[MonitorSpec] = field(default_factory=list)
    cloud_sam_ids: Callable[[], list[str]] = list
    cloud_sam_slot: Callable[[str], CardSlot] | None = None


@dataclass
class BrokerSettings:
    """The settings the actors read and write (a view of ``broker.settings.Settings``)."""

    device_id: str
    default_reader: Callable[[], str | None] = lambda: None
    last_device: Callable[[], str | None] = lambda: None
    remember_device: Callable[[str | None], None] = lambda _name: None


class Supervisor:
    """Owns every actor of the broker."""

    def __init__(
        self,
        stations: tuple[StationConfig, ...],
        hardware: Hardware,
        dc: DcClient,
        settings: BrokerSettings,
        board: StateBoard | None = None,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.board = board or StateBoard()
        self.policy = policy or RestartPolicy()
        self._stations = {s.name: s for s in stations}
        self._hardware = hardware
        self._dc = dc
        self._settings = settings
        self._lock = threading.RLock()
        self._handles: dict[str, ActorHandle] = {}
        self._factories: dict[str, Callable[[], pykka.ActorRef[Any]]] = {}
        self._owners: dict[str, str | None] = {}  # actor → station (None: shared)
        self._order: list[str] = []
        self._crashes: dict[str, deque[float]] = defaultdict(deque)
        self._monitors: dict[str, Monitor] = {}
        self._readers: dict[str, ReaderSpec] = {r.name: r for r in hardware.readers}
        self._slot_readers: dict[str, str] = {}  # slot → reader actor
        self._sam_slots: dict[tuple[str, str], str] = {}  # (reader actor, slot) → SAM actor
        self._sam_cells: dict[str, SamCell] = {}
        self._bindings: dict[str, Binding] = {}
        self._reconnect: dict[str, str] = {}  # station → device to connect again after a restart
        self._stopping = False

    # --- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        """Readers, then SAMs, then each station's card actors and the station itself."""
        for spec in self._hardware.readers:
            self._start_reader(spec)
        for spec in self._hardware.readers:
            if spec.sam_slot is not None:
                self._start_sam(f"sam:{spec.name}", SamType.PHYSICAL, spec.name, spec.sam_slot)
        for station in self._stations.values():
            self._start_station(station)
        for monitor in self._hardware.monitors:
            self._start_monitor(monitor)
        log.info("supervisor.started", actors=len(self._order))

    def stop(self) -> None:
        """Monitors first, then actors in reverse order of start."""
        self._stopping = True
        for monitor in list(self._monitors.values()):
            monitor.stop()
        for name in reversed(self._order):
            ref = self._handles[name].ref
            if ref.is_alive():
                ref.stop(block=True, timeout=5)
        log.info("supervisor.stopped")

    # --- what the API calls ------------------------------------------------------------

    def call(
        self,
        station: str,
        function: Function,
        args: dict[str, Any],
        context: Context,
        timeout: float,
    ) -> dict[str, Any]:
        """Run one function for a station, within ``timeout`` seconds."""
        handle = self.handle(f"station:{station}")
        at_once = AT_ONCE.get(function)
        if at_once is not None:
            return at_once()
        message = Call(function=function, args=args, context=context).within(timeout)
        shortcut = direct(message, self.board.get(station)) if handle.is_alive() else None
        if shortcut is not None:
            # StateMovedError: the card changed since the read model was read; the station decides
            with contextlib.suppress(StateMovedError):
                return cast(
                    "dict[str, Any]",
                    self.handle(f"{shortcut.actor}:{station}").ask(shortcut.message),
                )
        return cast("dict[str, Any]", handle.ask(message))

    def handle(self, name: str) -> ActorHandle:
        """An actor by name (KeyError if there is none)."""
        with self._lock:
            return self._handles[name]

    def actors(self) -> list[dict[str, Any]]:
        """Every actor: name, state, restarts, inbox depth (the admin API)."""
        with self._lock:
            handles = [self._handles[name] for name in self._order]
        return [
            {
                "name": h.name,
                "station": self._owners.get(h.name),
                "state": "running" if h.is_alive() else "restarting",
                "restarts": h.restarts,
                "inbox": h.inbox_depth(),
            }
            for h in handles
        ]

    def restart(self, name: str) -> list[str]:
        """Restart one actor, or every actor of a station (``station:<name>`` or its name)."""
        station = name.removeprefix("station:")
        if station in self._stations:
            names = [f"hca:{station}", f"hc:{station}", f"station:{station}"]
            self.board.update(station, degraded=None)
            self._remember_device(f"station:{station}")
        elif name in self._handles:
            names = [name]
            self._remember_device(name)
        else:
            raise KeyError(name)
        for actor in names:
            self._replace(actor, reason="requested")
        return names

    # --- readers (the settings, sim and events APIs) ------------------------------------

    def pcsc_reader_names(self) -> list[str]:
        """Readers with one slot for a station's cards: neither serial readers nor cloud SAMs."""
        with self._lock:
            specs = list(self._readers.values())
        return [spec.name for spec in specs if _is_pcsc(spec)]

    def reader_has_card(self, reader: str) -> bool:
        """Whether a slot of ``reader`` holds a card now; False for an unknown or failing one."""
        with self._lock:
            spec = self._readers.get(reader)
        if spec is None:
            return False
        try:
            return any(slot.is_card_present() for slot in spec.slots.values())
        except BrokerError:
            return False

    def reader_owner(self, reader: str) -> str | None:
        """The station using ``reader`` (local's default reader is local's); None if shared."""
        owner = self._owner_of_reader(reader)
        if owner is None and reader == self._settings.default_reader():
            return LOCAL
        return owner

    # --- the directory of devices (stations call it) -------------------------------------

    def names(self, station: str) -> list[str]:
        """Initial's order: the last device, cloud SAMs, then the physical SAM."""
        config = self._stations[station]
        clouds = self._hardware.cloud_sam_ids()
        physical = [config.serial] if config.serial else []
        order = clouds + physical
        last = self._settings.last_device() if station == LOCAL else None
        if last in order:
            order = [last, *(n for n in order if n != last)]
        if config.devices is not None:
            order = [n for n in order if n in config.devices]
        return order

    def connect(self, station: str, name: str) -> Binding:
        """Bind a device (cloud SAM id or COMn) to a station."""
        config = self._stations[station]
        if name == config.serial:
            binding = self._serial_binding(name)
        else:
            binding = self._cloud_binding(config, name)
        with self._lock:
            self._bindings[station] = binding
        return binding

    def release(self, station: str, name: str) -> None:
        """Unbind a station's device."""
        with self._lock:
            self._bindings.pop(station, None)

    # --- building actors ----------------------------------------------------------------

    def _register(
        self, name: str, factory: Callable[[], pykka.ActorRef[Any]], code: Code, owner: str | None
    ) -> ActorHandle:
        with self._lock:
            self._factories[name] = factory
            self._owners[name] = owner
            handle = ActorHandle(name, factory(), code)
            self._handles[name] = handle
            self._order.append(name)
        return handle

    def _start_reader(self, spec: ReaderSpec) -> ActorHandle:
        name = f"reader:{spec.name}"
        for slot in spec.slots:
            self._slot_readers[slot] = name

        def factory() -> pykka.ActorRef[Any]:
            return ReaderActor.start(name, spec.slots, self._crashed, self._route, spec.clock)

        return self._register(name, factory, Code.READER_FAILED, self._owner_of_reader(spec.name))

    def _start_sam(self, name: str, sam_type: SamType, reader: str, slot: str) -> ActorHandle:
        reader_handle = self.handle(f"reader:{reader}")
        self._sam_slots[(reader_handle.name, slot)] = name
        cell = self._sam_cells.setdefault(name, SamCell())

        def publish(kind: SamType, status: SamStatus) -> None:
            self._sam_changed(name, kind, status)

        def factory() -> pykka.ActorRef[Any]:
            return SamActor.start(
                name, sam_type, reader_handle, slot, self._dc, self._crashed, publish, cell
            )

        return self._register(name, factory, Code.SAM_MODE1_FAILED, None)

    def _start_station(self, config: StationConfig) -> None:
        station = config.name
        self.board.get(station)
        hca = self._register(
            f"hca:{station}",
            lambda: HcaActor.start(f"hca:{station}", station, self.board, self._dc, self._crashed),
            Code.HPC_MODE1_FAILED,
            station,
        )
        hc = self._register(
            f"hc:{station}",
            lambda: HcActor.start(f"hc:{station}", station, self.board, self._dc, self._crashed),
            Code.HC_MODE1_FAILED,
            station,
        )
        remember = self._settings.remember_device if station == LOCAL else (lambda _n: None)

        def factory() -> pykka.ActorRef[Any]:
            return StationActor.start(
                f"station:{station}",
                station,
                self.board,
                self,
                hca,
                hc,
                self._dc,
                self._settings.device_id,
                self._crashed,
                remember,
            )

        self._register(f"station:{station}", factory, Code.PCSC_OTHER, station)

    def _cloud_sam(self, sam_id: str) -> ActorHandle:
        name = f"sam:{sam_id}"
        with self._lock:
            if name in self._handles:
                return self._handles[name]
            if self._hardware.cloud_sam_slot is None:
                raise KeyError(sam_id)
            slot = self._hardware.cloud_sam_slot(sam_id)
            spec = ReaderSpec(f"cloud SAM {sam_id}", {slot.name: slot}, sam_slot=slot.name)
            self._readers[spec.name] = spec
            self._start_reader(spec)
            return self._start_sam(name, SamType.CLOUD, spec.name, slot.name)

    def _cloud_binding(self, config: StationConfig, sam_id: str) -> Binding:
        if sam_id not in self._hardware.cloud_sam_ids():
            raise KeyError(sam_id)
        sam = self._cloud_sam(sam_id)
        hc_reader = config.hc_reader or (
            self._settings.default_reader() if config.name == LOCAL else None
        )
        hca_reader = config.hca_reader or hc_reader
        return Binding(
            device_name=sam_id,
            reader_name=hc_reader,
            sam=sam,
            sam_cell=self._sam_cells[sam.name],
            sam_type=SamType.CLOUD,
            hc_sources=self._pcsc_sources(hc_reader),
            hca_sources=self._pcsc_sources(hca_reader),
            clock=None,
        )

    def _pcsc_sources(self, reader: str | None) -> tuple[Source, ...]:
        spec = self._readers.get(reader) if reader else None
        if spec is None:
            return ()
        handle = self.handle(f"reader:{spec.name}")
        return tuple(Source(handle, slot) for slot in spec.slots)

    def _serial_binding(self, name: str) -> Binding:
        spec = self._readers[name]
        reader = self.handle(f"reader:{name}")
        return Binding(
            device_name=name,
            reader_name=name,
            sam=self.handle(f"sam:{name}"),
            sam_cell=self._sam_cells[f"sam:{name}"],
            sam_type=SamType.PHYSICAL,
            hc_sources=(Source(reader, spec.hc_slot or ""),),
            hca_sources=(Source(reader, spec.hpc_slot or ""),),
            clock=reader,
        )

    def _owner_of_reader(self, reader: str) -> str | None:
        for station in self._stations.values():
            if reader in station.readers():
                return station.name
        return None

    # --- events ---------------------------------------------------------------------

    def _route(self, seen: CardSeen) -> None:
        """A reader's report goes to the SAM of that slot, or to the bound stations' cards."""
        self.board.publish(
            BoardEvent(
                "card",
                None,
                {
                    "reader": seen.reader.removeprefix("reader:"),
                    "slot": seen.slot,
                    "present": seen.present,
                    "kind": seen.identity.kind,
                    "cardId": seen.identity.card_id,
                },
            )
        )
        with self._lock:
            sam_name = self._sam_slots.get((seen.reader, seen.slot))
            sam = self._handles.get(sam_name) if sam_name else None
            holders = [
                (f"hca:{station}", f"hc:{station}")
                for station, binding in self._bindings.items()
                if _watches(binding, seen)
            ]
        if sam is not None:
            sam.tell(SamCardSeen(seen=seen))
        for names in holders:
            for holder in names:
                self.handle(holder).tell(Seen(seen=seen))

    def _sam_changed(self, sam_name: str, sam_type: SamType, status: SamStatus) -> None:
        with self._lock:
            stations = [s for s, b in self._bindings.items() if b.sam.name == sam_name]
        for station in stations:
            self.board.update(station, sam_type=sam_type, sam_status=status)

    def _slot_changed(self, event: SlotEvent) -> None:
        reader = self._slot_readers.get(event.slot)
        if reader is not None:
            self.handle(reader).tell(SlotChanged(event=event))

    # --- monitors ------------------------------------------------------------------------

    def _start_monitor(self, spec: MonitorSpec) -> None:
        try:
            self._monitors[spec.name] = spec.start(
                self._slot_changed, lambda exc: self._monitor_failed(spec, exc)
            )
        except Exception as exc:  # e.g. a serial port still gone: try again later
            self._monitor_failed(spec, exc)

    def _monitor_failed(self, spec: MonitorSpec, exc: BaseException) -> None:
        if self._stopping:
            return
        delay = self._backoff(f"monitor:{spec.name}")
        log.warning("monitor.died", monitor=spec.name, error=str(exc), restart_in=delay)
        timer = threading.Timer(delay, self._restart_monitor, (spec,))
        timer.daemon = True
        timer.start()

    def _restart_monitor(self, spec: MonitorSpec) -> None:
        if self._stopping:
            return
        self._start_monitor(spec)
        for name in [n for n in self._order if n.startswith("reader:")]:
            self.handle(name).tell(Rescan())  # what changed while no one watched
        log.info("monitor.restarted", monitor=spec.name)
        self.board.publish(BoardEvent("restart", None, {"actor": f"monitor:{spec.name}"}))

    # --- crashes and restarts -------------------------------------------------------------

    def _crashed(self, name: str, exc: BaseException) -> None:
        """One-for-one: restart the actor after a backoff; too many restarts degrade its station."""
        if self._stopping:
            return
        self._remember_device(name)
        delay = self._backoff(name)
        count = len(self._crashes[name])
        station = self._owners.get(name)
        if count > self.policy.max_restarts:
            reason = f"{name} restarted {count} times in {self.policy.window:.0f} s"
            log.error("supervisor.degraded", station=station, actor=name, restarts=count)
            for affected in [station] if station else self.board.stations():
                self.board.update(affected, degraded=reason)
                self.board.publish(BoardEvent("degraded", affected, {"reason": reason}))
        timer = threading.Timer(delay, self._replace, (name,), {"reason": f"crash: {exc}"})
        timer.daemon = True
        timer.start()

    def _backoff(self, name: str) -> float:
        """Count a failure of ``name``; the delay before its restart doubles with each one."""
        now = time.monotonic()
        with self._lock:
            times = self._crashes[name]
            times.append(now)
            while times and times[0] < now - self.policy.window:
                times.popleft()
            count = len(times)
        return float(min(self.policy.backoff_initial * 2 ** (count - 1), self.policy.backoff_max))

    def _replace(self, name: str, reason: str) -> None:
        if self._stopping:
            return
        handle = self.handle(name)
        old = handle.ref
        if old.is_alive():
            old.stop(block=True, timeout=5)
        handle.replace(self._factories[name]())
        log.info("supervisor.restarted", actor=name, reason=reason, restarts=handle.restarts)
        station = self._owners.get(name)
        self.board.publish(
            BoardEvent("restart", station, {"actor": name, "restarts": handle.restarts})
        )
        self._rebind(name)

    def _remember_device(self, name: str) -> None:
        """Before a station actor goes: which device it had, to connect it again."""
        kind, _, station = name.partition(":")
        with self._lock:
            binding = self._bindings.get(station)
            if kind == "station" and binding is not None:
                self._reconnect[station] = binding.device_name

    def _rebind(self, name: str) -> None:
        """A restarted card actor watches its station's slots again; a station reconnects."""
        kind, _, station = name.partition(":")
        with self._lock:
            device = self._reconnect.pop(station, None) if kind == "station" else None
            binding = self._bindings.get(station)
        if device is not None:
            self.handle(name).tell(Reconnect(device=device))
            return
        if binding is None or kind not in ("hc", "hca"):
            return
        sources = binding.hc_sources if kind == "hc" else binding.hca_sources
        self.handle(name).tell(Bind(sources=sources))


def _is_pcsc(spec: ReaderSpec) -> bool:
    return spec.clock is None and spec.sam_slot is None and len(spec.slots) == 1


def _watches(binding: Binding, seen: CardSeen) -> bool:
    return any(
        s.reader.name == seen.reader and s.slot == seen.slot
        for s in (*binding.hc_sources, *binding.hca_sources)
    )
