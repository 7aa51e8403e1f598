"""Mutual authentication of an HC or HPC with a SAM (docs/cards.md)."""

from __future__ import annotations

from broker import errors
from broker.cards.records import CardInfo, Environment
from broker.cards.sam import SamSession
from broker.cards.session import CardSession
from broker.codes import Code


def check_environment(card: Environment, sam: Environment) -> None:
    """Formal and test cards never mix (manual: 1003)."""
    if card is not sam:
        raise errors.FormalTestMixError(f"{card.name.lower()} card with a {sam.name.lower()} SAM")


def mutual_authenticate(
    card: CardSession, info: CardInfo, sam: SamSession, family: int, failure: Code
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
