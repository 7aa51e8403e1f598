"""The virtual card kit: every emulated card by its number, built once and kept.

Keeping one emulator per card id means what a real card would remember (a
PIN changed, tries used, a blocked PIN) survives pulling and re-inserting it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nhi_kit.emulators.card import CardEmulator
from nhi_kit.emulators.hc import HcEmulator
from nhi_kit.emulators.hpc import HpcEmulator
from nhi_kit.emulators.keys import ec_key, rsa_key
from nhi_kit.emulators.people import HEALTH_CARDS, HPCS, SAMS
from nhi_kit.emulators.sam import SamEmulator


@dataclass(frozen=True)
class KitCard:
    """One card of the kit as the sim API lists it."""

    id: str
    kind: str  # "hc", "hpc" or "sam"
    fields: dict[str, Any]


class CardKit:
    """Builds the kit's emulators lazily and hands out the same one each time."""

    def __init__(self) -> None:
        self._cards: dict[str, CardEmulator] = {}

    def ids(self) -> list[str]:
        """Every card id the kit knows."""
        return (
            [p.card_id for p in HEALTH_CARDS] + [p.card_id for p in HPCS] + [s.sam_id for s in SAMS]
        )

    def card(self, card_id: str) -> CardEmulator:
        """The emulator of ``card_id``; KeyError if the kit has no such card."""
        if card_id not in self._cards:
            self._cards[card_id] = build_card(card_id)
        return self._cards[card_id]

    def listing(self) -> list[KitCard]:
        """Every card with its data, PIN and PUK included (kit only)."""
        cards = [
            KitCard(p.card_id, "hc", {**vars(p), "environment": p.environment.value})
            for p in HEALTH_CARDS
        ]
        cards += [
            KitCard(p.card_id, "hpc", {**vars(p), "environment": p.environment.value}) for p in HPCS
        ]
        cards += [
            KitCard(s.sam_id, "sam", {**vars(s), "environment": s.environment.value}) for s in SAMS
        ]
        return cards


def build_card(card_id: str) -> CardEmulator:
    """A fresh emulator for one of the kit's cards."""
    for person in HEALTH_CARDS:
        if person.card_id == card_id:
            return HcEmulator(person)
    for hpc in HPCS:
        if hpc.card_id == card_id:
            return HpcEmulator(hpc)
    for sam in SAMS:
        if sam.sam_id == card_id:
            return SamEmulator(sam, rsa_key(f"sam-{sam.sam_id}"), ec_key("dc-grant").public_key())
    raise KeyError(f"the kit has no card {card_id}")
