"""Mutual authentication of an HC or HPC with a SAM (docs/cards.md).

Written against the two sides' verbs only, so the same steps run on
sessions in one thread (tests, tools) and across actors (the broker).
"""

from __future__ import annotations

from typing import Protocol

from broker import errors
from broker.cards.records import CardInfo, Environment, SamIdentity
from broker.codes import Code


class CardSide(Protocol):
    """The card's verbs in mutual authentication."""

    def get_challenge(self) -> bytes:
        """RC."""
        ...

    def external_authenticate(self, data: bytes) -> bytes:
        """RS ‖ C1 in, C2 out."""
        ...


class SamSide(Protocol):
    """The SAM's verbs in mutual authentication."""

    def identity(self) -> SamIdentity:
        """The SAM's ids."""
        ...

    def authenticate_card(self, family: int, card_id: str, card_random: bytes) -> bytes:
        """RS ‖ C1."""
        ...

    def check_card(self, family: int, card_cryptogram: bytes) -> None:
        """Check C2."""
        ...


def check_environment(card: Environment, sam: Environment) -> None:
    """Formal and test cards never mix (manual: 1003)."""
    if card is not sam:
        raise errors.FormalTestMixError(f"{card.name.lower()} card with a {sam.name.lower()} SAM")


def mutual_authenticate(
    card: CardSide, info: CardInfo, sam: SamSide, family: int, failure: Code
) -> None:
    """Run the four-step exchange; on refusal raise ``failure`` (e.g. 1501 for an HC)."""
    check_environment(info.environment, sam.identity().environment)
    try:
        card_random = card.get_challenge()
        sam_answer = sam.authenticate_card(family, info.card_id, card_random)
        card_answer = card.external_authenticate(sam_answer)
        sam.check_card(family, card_answer)
    except errors.ApduError as exc:
        raise errors.BrokerError("card authentication with the SAM failed", code=failure) from exc
