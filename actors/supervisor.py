"""The supervisor: starts every actor in dependency order, stops them in reverse, restarts
what crashes (one-for-one, actors/restarts.py), and routes card events to whoever holds the
slot. The devices the stations connect are actors/directory.py's; the actors themselves are
kept in actors/registry.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from typing import Any

import pykka
import structlog

from actors.activity import Activity
from actors.base import ActorHandle, StateMovedError, Supervised
from actors.departures import Departures
from actors.directory import DeviceDirectory
from actors.hardware import BrokerSettings, Hardware, ReaderSpec
from actors.hc import HcActor
from actors.hca import HcaActor
from actors.holder import Bind, Seen
from actors.messages import Context
from actors.monitors import MonitorKeeper
from actors.names import ActorName, Kind
from actors.pulse import PULSE, Ping, PulseActor
from actors.reader import CardSeen, ReaderActor, Rescan, SlotChanged
from actors.registry import ActorEntry, ActorRegistry
from actors.restarts import Backoff
from actors.sam import SamActor, SamCardSeen, SamCell
from actors.station import AT_ONCE, Call, Reconnect, StationActor, direct, restart_code
from broker.answers import Answer
from broker.arguments import Arguments
from broker.codes import Code
from broker.config import LOCAL, RestartPolicy, StationConfig
from broker.dc.client import DcClient
from broker.rules import Function
from broker.state import (
    ActorRestarted,
    BoardEvent,
    CardMoved,
    SamStatus,
    SamType,
    StateBoard,
    StationDegraded,
)
from broker.transport.base import SlotEvent

log = structlog.get_logger("actors.supervisor")


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
        self.registry = ActorRegistry()
        self.departures = Departures()  # cards leaving, heard before any inbox hears it
        self.devices = DeviceDirectory(stations, hardware, settings, self.registry)
        self.devices.start_cloud_sam = self._start_cloud_sam
        self._stations = stations
        self._hardware = hardware
        self._dc = dc
        self._settings = settings
        self._backoff = Backoff(policy or RestartPolicy())
        self._monitors = MonitorKeeper(
            self._slot_changed, self._backoff, self._monitor_back, self._monitor_down
        )
        self._lock = threading.Lock()
        self._slot_readers: dict[str, ActorName] = {}  # slot → its reader actor
        self._sam_slots: dict[tuple[str, str], ActorName] = {}  # (reader actor, slot) → SAM
        self._reconnect: dict[str, str] = {}  # station → device to connect again after a restart
        self._absent: set[str] = set()  # readers whose device is not there now
        self._stopping = False

    @property
    def policy(self) -> RestartPolicy:
        """The restart policy in force."""
        return self._backoff.policy

    # --- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        """Readers, then SAMs, then each station's card actors and the station itself."""
        for spec in self._hardware.readers:
            self._start_reader(spec)
        for spec in self._hardware.readers:
            if spec.sam_slot is not None:
                sam = ActorName(Kind.SAM, spec.name)
                self._start_sam(sam, SamType.PHYSICAL, spec.name, spec.sam_slot)
        for station in self._stations:
            self._start_station(station)
        for monitor in self._hardware.monitors:
            self._monitors.start(monitor)
        self.registry.register(
            PULSE,
            lambda activity: PulseActor.start(self._supervised(PULSE, activity)),
            Code.PCSC_OTHER,
            None,
        )
        log.info("supervisor.started", actors=len(self.registry.names()))

    def stop(self) -> None:
        """Monitors first, then actors in reverse order of start."""
        self._stopping = True
        self._monitors.stop()
        self.registry.stop_all()
        log.info("supervisor.stopped")

    # --- what the API calls ------------------------------------------------------------

    def call(
        self,
        station: str,
        function: Function,
        args: Arguments,
        context: Context,
        timeout: float,
    ) -> Answer:
        """Run one function for a station, within ``timeout`` seconds."""
        handle = self.registry.handle(ActorName(Kind.STATION, station))
        at_once = AT_ONCE.get(function)
        if at_once is not None:
            return at_once()
        message = Call(function=function, args=args, context=context).within(timeout)
        shortcut = direct(message, self.board.get(station)) if handle.is_alive() else None
        if shortcut is not None:
            # StateMovedError: the card changed since the read model was read; the station decides
            with contextlib.suppress(StateMovedError):
                card_actor = ActorName(Kind(shortcut.actor), station)
                answer: Answer = self.registry.handle(card_actor).ask(shortcut.message)
                return answer
        return handle.ask(message)

    def ping(self, timeout: float) -> None:
        """A round trip to the pulse actor (actors/pulse.py); a BrokerError if none in time."""
        self.registry.handle(PULSE).ask(Ping().within(timeout))

    def handle(self, name: ActorName | str) -> ActorHandle:
        """An actor by name (KeyError if there is none)."""
        return self.registry.handle(name)

    def actors(self) -> list[ActorEntry]:
        """Every actor: name, state, restarts, inbox depth, a reader's device (the admin API)."""
        with self._lock:
            absent = set(self._absent)
        return [
            dataclasses.replace(entry, device="absent" if entry.name in absent else "present")
            if entry.name.startswith(f"{Kind.READER}:")
            else entry
            for entry in self.registry.listing()
        ]

    def restart(self, name: str) -> list[str]:
        """Restart one actor, or every actor of a station (``station:<name>`` or its name)."""
        station = name.removeprefix("station:")
        if station in {s.name for s in self._stations}:
            names = [ActorName(kind, station) for kind in (Kind.HCA, Kind.HC, Kind.STATION)]
            self.board.update(station, degraded=None)
        else:
            try:
                names = [ActorName.parse(name)]
            except ValueError as exc:
                raise KeyError(name) from exc
            self.registry.handle(names[0])  # KeyError for an actor there is not
        for actor in names:
            self._remember_device(actor)
            self._replace(actor, reason="requested")
        return [str(actor) for actor in names]

    # --- readers (the settings, sim and events APIs) ------------------------------------

    def pcsc_reader_names(self) -> list[str]:
        """Readers with one slot for a station's cards: neither serial readers nor cloud SAMs."""
        return self.devices.pcsc_reader_names()

    def reader_has_card(self, reader: str) -> bool:
        """Whether a slot of ``reader`` holds a card now."""
        return self.devices.reader_has_card(reader)

    def reader_owner(self, reader: str) -> str | None:
        """The station using ``reader``; None if shared."""
        return self.devices.reader_owner(reader)

    def names(self, station: str) -> list[str]:
        """The devices a station may connect, in Initial's order."""
        return self.devices.names(station)

    # --- building actors ----------------------------------------------------------------

    def _start_reader(self, spec: ReaderSpec) -> ActorHandle:
        name = ActorName(Kind.READER, spec.name)
        with self._lock:
            for slot in spec.slots:
                self._slot_readers[slot] = name

        def device(absent: str | None) -> None:
            self._device_changed(name, absent)

        def factory(activity: Activity) -> pykka.ActorRef[Any]:
            return ReaderActor.start(
                self._supervised(name, activity), spec.slots, self._route, spec.clock, device
            )

        owner = self.devices.owner_of_reader(spec.name)
        return self.registry.register(name, factory, Code.READER_FAILED, owner)

    def _start_sam(self, name: ActorName, sam_type: SamType, reader: str, slot: str) -> ActorHandle:
        reader_handle = self.registry.handle(ActorName(Kind.READER, reader))
        with self._lock:
            self._sam_slots[(reader_handle.name, slot)] = name
        cell = self.devices.sam_cells.setdefault(name, SamCell())

        def publish(kind: SamType, status: SamStatus) -> None:
            self._sam_changed(name, kind, status)

        def factory(activity: Activity) -> pykka.ActorRef[Any]:
            return SamActor.start(
                self._supervised(name, activity),
                sam_type,
                reader_handle,
                slot,
                self._dc,
                publish,
                self.departures,
                cell,
            )

        return self.registry.register(name, factory, Code.SAM_MODE1_FAILED, None)

    def _start_cloud_sam(self, spec: ReaderSpec) -> ActorHandle:
        """A cloud SAM's actors, when a station first connects it."""
        assert spec.sam_slot is not None
        self._start_reader(spec)
        sam_id = spec.name.removeprefix("cloud SAM ")
        return self._start_sam(ActorName(Kind.SAM, sam_id), SamType.CLOUD, spec.name, spec.sam_slot)

    def _start_station(self, config: StationConfig) -> None:
        station = config.name
        self.board.get(station)
        hca_name, hc_name = ActorName(Kind.HCA, station), ActorName(Kind.HC, station)
        hca = self.registry.register(
            hca_name,
            lambda activity: HcaActor.start(
                self._supervised(hca_name, activity),
                station,
                self.board,
                self._dc,
                self.departures,
            ),
            Code.HPC_MODE1_FAILED,
            station,
        )
        hc = self.registry.register(
            hc_name,
            lambda activity: HcActor.start(
                self._supervised(hc_name, activity),
                station,
                self.board,
                self._dc,
                self.departures,
            ),
            Code.HC_MODE1_FAILED,
            station,
        )
        remember = self._settings.remember_device if station == LOCAL else (lambda _n: None)
        name = ActorName(Kind.STATION, station)

        def factory(activity: Activity) -> pykka.ActorRef[Any]:
            return StationActor.start(
                self._supervised(name, activity),
                station,
                self.board,
                self.devices,
                hca,
                hc,
                self._dc,
                self._settings.device_id,
                remember,
            )

        self.registry.register(name, factory, Code.PCSC_OTHER, station, restart_code)

    # --- events ---------------------------------------------------------------------

    def _route(self, seen: CardSeen) -> None:
        """A reader's report goes to the SAM of that slot, or to the bound stations' cards."""
        self.departures.seen(seen)  # a DC wait for a card that left ends now
        reader = seen.reader.removeprefix("reader:")
        card = CardMoved(reader, seen.slot, seen.present, seen.identity.kind, seen.identity.card_id)
        self.board.publish(BoardEvent(None, card))
        with self._lock:
            sam_name = self._sam_slots.get((seen.reader, seen.slot))
        sam = self.registry.find(sam_name) if sam_name else None
        if sam is not None:
            sam.tell(SamCardSeen(seen=seen))
        for station in self.devices.watching(seen):
            for kind in (Kind.HCA, Kind.HC):
                self.registry.handle(ActorName(kind, station)).tell(Seen(seen=seen))

    def _sam_changed(self, sam: ActorName, sam_type: SamType, status: SamStatus) -> None:
        for station in self.devices.using_sam(sam):
            self.board.update(station, sam_type=sam_type, sam_status=status)

    def _slot_changed(self, event: SlotEvent) -> None:
        with self._lock:
            reader = self._slot_readers.get(event.slot)
        if reader is not None:
            self.registry.handle(reader).tell(SlotChanged(event=event))

    def _device_changed(self, reader: ActorName, absent: str | None) -> None:
        """A reader's device went (``absent`` says why) or came back: its stations show it."""
        with self._lock:
            if absent is not None:
                self._absent.add(str(reader))
            else:
                self._absent.discard(str(reader))
            gone = {ActorName.parse(name).of for name in self._absent}
        for station in self._stations:
            if reader.of in station.readers():
                missing = tuple(r for r in station.readers() if r in gone)
                self.board.update(station.name, readers_absent=missing)

    def _monitor_down(self, monitor: str) -> None:
        """A monitor stopped watching: the readers look whether their device is still there."""
        for name in self.registry.names(Kind.READER):
            self.registry.handle(name).tell(Rescan())

    def _monitor_back(self, monitor: str) -> None:
        """A monitor runs again: the readers compare their slots with what they believed."""
        for name in self.registry.names(Kind.READER):
            self.registry.handle(name).tell(Rescan())
        self.board.publish(BoardEvent(None, ActorRestarted(f"monitor:{monitor}")))

    # --- crashes and restarts -------------------------------------------------------------

    def _supervised(self, name: ActorName, activity: Activity) -> Supervised:
        """What the actor ``name`` is started with: it reports its crash bound to its name."""
        return Supervised(str(name), lambda exc: self._crashed(name, exc), activity)

    def _crashed(self, name: ActorName, exc: BaseException) -> None:
        """One-for-one: restart the actor after a backoff; too many restarts degrade its station."""
        if self._stopping:
            return
        text = str(name)
        self._remember_device(name)
        delay, count = self._backoff.failed(text)
        station = self.registry.owner(name)
        if self._backoff.too_many(count):
            reason = f"{name} restarted {count} times in {self.policy.window:.0f} s"
            log.error("supervisor.degraded", station=station, actor=text, restarts=count)
            for affected in [station] if station else self.board.stations():
                self.board.update(affected, degraded=reason)
                self.board.publish(BoardEvent(affected, StationDegraded(reason)))
        timer = threading.Timer(delay, self._replace, (name,), {"reason": f"crash: {exc}"})
        timer.daemon = True
        timer.start()

    def _replace(self, name: ActorName, reason: str) -> None:
        if self._stopping:
            return
        handle = self.registry.renew(name)
        log.info("supervisor.restarted", actor=str(name), reason=reason, restarts=handle.restarts)
        station = self.registry.owner(name)
        self.board.publish(BoardEvent(station, ActorRestarted(str(name), handle.restarts)))
        self._rebind(name)

    def _remember_device(self, name: ActorName) -> None:
        """Before a station actor goes: which device it had, to connect it again."""
        if name.kind is not Kind.STATION:
            return
        binding = self.devices.binding(name.of)
        if binding is not None:
            with self._lock:
                self._reconnect[name.of] = binding.device_name

    def _rebind(self, name: ActorName) -> None:
        """A restarted card actor watches its station's slots again; a station reconnects."""
        with self._lock:
            device = self._reconnect.pop(name.of, None) if name.kind is Kind.STATION else None
        if device is not None:
            self.registry.handle(name).tell(Reconnect(device=device))
            return
        binding = self.devices.binding(name.of)
        if binding is None or name.kind not in (Kind.HC, Kind.HCA):
            return
        sources = binding.hc_sources if name.kind is Kind.HC else binding.hca_sources
        self.registry.handle(name).tell(Bind(sources=sources))
