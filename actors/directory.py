"""The directory of devices the stations connect (cloud SAMs, serial readers) and of the
readers they use; which station is bound to what."""

from __future__ import annotations

import threading
from collections.abc import Callable

from actors.base import ActorHandle
from actors.hardware import BrokerSettings, Hardware, ReaderSpec
from actors.holder import Source
from actors.names import ActorName, Kind
from actors.reader import CardSeen
from actors.registry import ActorRegistry
from actors.sam import SamCell
from actors.station import Binding
from broker.config import LOCAL, StationConfig
from broker.errors import BrokerError
from broker.state import SamType

CloudSamStarter = Callable[[ReaderSpec], ActorHandle]


class DeviceDirectory:
    """What each station may connect, what it is bound to, and the host's readers."""

    def __init__(
        self,
        stations: tuple[StationConfig, ...],
        hardware: Hardware,
        settings: BrokerSettings,
        registry: ActorRegistry,
    ) -> None:
        self._stations = {s.name: s for s in stations}
        self._hardware = hardware
        self._settings = settings
        self._registry = registry
        self._lock = threading.RLock()
        self._readers: dict[str, ReaderSpec] = {r.name: r for r in hardware.readers}
        self._bindings: dict[str, Binding] = {}
        self.sam_cells: dict[ActorName, SamCell] = {}
        self.start_cloud_sam: CloudSamStarter | None = None  # set by the supervisor

    # --- what the stations call (actors/station.py, Devices) ----------------------

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

    def shared_with(self, station: str, name: str) -> list[str]:
        """The other stations bound to device ``name`` now."""
        with self._lock:
            return [s for s, b in self._bindings.items() if s != station and b.device_name == name]

    # --- what the supervisor asks -------------------------------------------------------

    def binding(self, station: str) -> Binding | None:
        """The station's device, if one is connected."""
        with self._lock:
            return self._bindings.get(station)

    def watching(self, seen: CardSeen) -> list[str]:
        """The stations whose card actors watch the slot of ``seen``."""
        with self._lock:
            bindings = list(self._bindings.items())
        return [station for station, binding in bindings if _watches(binding, seen)]

    def using_sam(self, sam: ActorName) -> list[str]:
        """The stations bound to that SAM now."""
        with self._lock:
            return [s for s, b in self._bindings.items() if b.sam.name == str(sam)]

    def add_reader(self, spec: ReaderSpec) -> None:
        """A reader made on demand (a cloud SAM's)."""
        with self._lock:
            self._readers[spec.name] = spec

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
        owner = self.owner_of_reader(reader)
        if owner is None and reader == self._settings.default_reader():
            return LOCAL
        return owner

    def owner_of_reader(self, reader: str) -> str | None:
        """The station whose configuration names ``reader``."""
        for station in self._stations.values():
            if reader in station.readers():
                return station.name
        return None

    # --- bindings -----------------------------------------------------------------------

    def _cloud_sam(self, sam_id: str) -> ActorHandle:
        name = ActorName(Kind.SAM, sam_id)
        with self._lock:
            known = self._registry.find(name)
            if known is not None:
                return known
            if self._hardware.cloud_sam_slot is None or self.start_cloud_sam is None:
                raise KeyError(sam_id)
            slot = self._hardware.cloud_sam_slot(sam_id)
            spec = ReaderSpec(f"cloud SAM {sam_id}", {slot.name: slot}, sam_slot=slot.name)
            self.add_reader(spec)
            return self.start_cloud_sam(spec)

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
            sam_cell=self.sam_cells[ActorName(Kind.SAM, sam_id)],
            sam_type=SamType.CLOUD,
            hc_sources=self._pcsc_sources(hc_reader),
            hca_sources=self._pcsc_sources(hca_reader),
            clock=None,
        )

    def _pcsc_sources(self, reader: str | None) -> tuple[Source, ...]:
        with self._lock:
            spec = self._readers.get(reader) if reader else None
        if spec is None:
            return ()
        handle = self._registry.handle(ActorName(Kind.READER, spec.name))
        return tuple(Source(handle, slot) for slot in spec.slots)

    def _serial_binding(self, name: str) -> Binding:
        with self._lock:
            spec = self._readers[name]
        reader = self._registry.handle(ActorName(Kind.READER, name))
        sam = ActorName(Kind.SAM, name)
        return Binding(
            device_name=name,
            reader_name=name,
            sam=self._registry.handle(sam),
            sam_cell=self.sam_cells[sam],
            sam_type=SamType.PHYSICAL,
            hc_sources=(Source(reader, spec.hc_slot or ""),),
            hca_sources=(Source(reader, spec.hpc_slot or ""),),
            clock=reader,
        )


def _is_pcsc(spec: ReaderSpec) -> bool:
    return spec.clock is None and spec.sam_slot is None and len(spec.slots) == 1


def _watches(binding: Binding, seen: CardSeen) -> bool:
    return any(
        s.reader.name == seen.reader and s.slot == seen.slot
        for s in (*binding.hc_sources, *binding.hca_sources)
    )
