"""The kit's HC and HPC cards are NHI card applications (``broker.cards.nhi_applet``) whose
keys are diversified from the kit's issuer masters."""

from __future__ import annotations

from broker.cards.crypto import derive_card_key
from broker.cards.nhi_applet import NhiApplet, valid_pin_format
from broker.cards.records import Environment
from nhi_kit.emulators.keys import issuer_master

NhiCardEmulator = NhiApplet

__all__ = ["NhiCardEmulator", "card_key", "valid_pin_format"]


def card_key(family: str, card_id: str, environment: Environment) -> bytes:
    """A kit card's own key: its number under the kit's issuer master of its family."""
    return derive_card_key(issuer_master(family, environment), card_id)
