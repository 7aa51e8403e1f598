"""Cards leaving their slots, heard at once — not through an inbox — so that a wait on the data
centre on behalf of a card ends as soon as the card is pulled.

A card actor waiting on the DC (an HPC's certificate check: two round trips)
is busy: the reader's report that its card left waits in its inbox until the
DC answers, seconds later. The readers' reports also reach ``Departures``
directly (the supervisor's router, in the reader's thread); a DC call made
through ``unless_departed`` runs in a thread of its own while the card actor
waits for whichever comes first: its answer, or the card leaving.
"""

from __future__ import annotations

import contextvars
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from actors.reader import CardSeen
from broker.codes import Code
from broker.errors import BrokerError

T = TypeVar("T")


@dataclass(frozen=True)
class HeldCard:
    """One arrival of a card: its reader actor, its slot, the generation of that arrival."""

    reader: str
    slot: str
    generation: int


class CardLeftError(BrokerError):
    """The card left while the broker waited on the data centre for it."""

    default_code = Code.NO_CARD


class Departures:
    """The latest report of every slot, and who waits for a card there to leave; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str], int] = {}  # (reader, slot) → its last generation
        self._waiting: defaultdict[tuple[str, str], set[tuple[int, threading.Event]]] = defaultdict(
            set
        )

    def seen(self, seen: CardSeen) -> None:
        """A reader's report: every wait for a card of an earlier arrival there ends."""
        key = (seen.reader, seen.slot)
        with self._lock:
            self._latest[key] = seen.generation
            ended = {w for w in self._waiting[key] if w[0] != seen.generation}
            self._waiting[key] -= ended
        for _, wake in ended:
            wake.set()

    def gone(self, card: HeldCard) -> bool:
        """Whether a later report for its slot says the card of that arrival is not there."""
        with self._lock:
            latest = self._latest.get((card.reader, card.slot))
        return latest is not None and latest != card.generation

    def watch(self, card: HeldCard, wake: threading.Event) -> Callable[[], None]:
        """Set ``wake`` when the card leaves; the function returned stops watching."""
        key, waiter = (card.reader, card.slot), (card.generation, wake)
        with self._lock:
            self._waiting[key].add(waiter)
        if self.gone(card):
            wake.set()

        def stop() -> None:
            with self._lock:
                self._waiting[key].discard(waiter)

        return stop


def unless_departed(departures: Departures, card: HeldCard, work: Callable[[], T]) -> T:
    """``work()`` (a DC call on the card's behalf), or ``CardLeftError`` as soon as the card
    leaves; the DC's late answer is then dropped (its call ends by the DC client's timeout)."""
    wake = threading.Event()
    outcome: list[tuple[T | None, BaseException | None]] = []

    def run() -> None:
        try:
            outcome.append((work(), None))
        except BaseException as exc:  # handed to the waiting actor, which raises it
            outcome.append((None, exc))
        finally:
            wake.set()

    stop = departures.watch(card, wake)
    try:
        if not departures.gone(card):
            # The request's log context (contextvars) goes along to the DC client's lines.
            context = contextvars.copy_context()
            threading.Thread(target=context.run, args=(run,), daemon=True, name="dc-call").start()
            wake.wait()
    finally:
        stop()
    if departures.gone(card) or not outcome:
        raise CardLeftError(f"the card left {card.slot} while the data centre was asked")
    value, error = outcome[0]
    if error is not None:
        raise error
    return value  # type: ignore[return-value]  # T, which may itself be None
