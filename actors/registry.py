"""Every actor the supervisor started: its stable handle, how to make it again, whose it is.

pykka has no supervision, and a stopped actor cannot start again: a restart is a new actor
behind the same ``ActorHandle``, made by the factory registered with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from actors.activity import Activity, Cause
from actors.base import ActorHandle, UnavailableCode
from actors.names import ActorName, Kind
from broker.codes import Code

Factory = Callable[[Activity], pykka.ActorRef[Any]]  # a new actor, counting its time there


@dataclass(frozen=True)
class ActorEntry:
    """One actor as the admin API lists it."""

    name: str
    station: str | None  # None: shared by every station
    state: str  # "running" or "restarting"
    restarts: int
    inbox: int  # messages waiting
    device: str | None = None  # readers: "present", or "absent" (looked for again by itself)


class ActorRegistry:
    """Handles by name, in the order the actors started; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._handles: dict[ActorName, ActorHandle] = {}
        self._factories: dict[ActorName, Factory] = {}
        self._owners: dict[ActorName, str | None] = {}  # → station (None: shared)
        self._order: list[ActorName] = []

    def register(
        self,
        name: ActorName,
        factory: Factory,
        code: Code,
        owner: str | None,
        codes: UnavailableCode | None = None,
    ) -> ActorHandle:
        """Start the actor and keep its handle."""
        with self._lock:
            self._factories[name] = factory
            self._owners[name] = owner
            activity = Activity(Cause(code, str(name)))
            handle = ActorHandle(str(name), factory(activity), code, codes, activity)
            self._handles[name] = handle
            self._order.append(name)
        return handle

    def handle(self, name: ActorName | str) -> ActorHandle:
        """An actor by name (KeyError if there is none)."""
        key = name if isinstance(name, ActorName) else _parsed(name)
        with self._lock:
            return self._handles[key]

    def find(self, name: ActorName) -> ActorHandle | None:
        """An actor by name, or None."""
        with self._lock:
            return self._handles.get(name)

    def owner(self, name: ActorName) -> str | None:
        """The station the actor belongs to (None: shared by all)."""
        with self._lock:
            return self._owners.get(name)

    def names(self, kind: Kind | None = None) -> list[ActorName]:
        """Every actor (of ``kind``), in the order they started."""
        with self._lock:
            return [n for n in self._order if kind is None or n.kind is kind]

    def renew(self, name: ActorName) -> ActorHandle:
        """Stop the actor (if it still runs) and put a new one behind its handle."""
        handle = self.handle(name)
        old = handle.ref
        if old.is_alive():
            old.stop(block=True, timeout=5)
        activity = Activity(Cause(handle.timeout_code, str(name)))
        handle.replace(self._factories[name](activity), activity)
        return handle

    def listing(self) -> list[ActorEntry]:
        """Every actor: name, station, state, restarts, inbox depth (the admin API)."""
        with self._lock:
            entries = [(name, self._handles[name], self._owners[name]) for name in self._order]
        return [
            ActorEntry(
                name=str(name),
                station=owner,
                state="running" if handle.is_alive() else "restarting",
                restarts=handle.restarts,
                inbox=handle.inbox_depth(),
            )
            for name, handle, owner in entries
        ]

    def stop_all(self) -> None:
        """Stop every actor, in reverse order of start."""
        for name in reversed(self.names()):
            ref = self.handle(name).ref
            if ref.is_alive():
                ref.stop(block=True, timeout=5)


def _parsed(text: str) -> ActorName:
    try:
        return ActorName.parse(text)
    except ValueError as exc:
        raise KeyError(text) from exc
