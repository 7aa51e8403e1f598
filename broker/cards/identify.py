"""What card is this? A card is known by what it answers (one reader may
serve an HPC and an HC in turn)."""

from __future__ import annotations

from dataclasses import dataclass

from broker import errors
from broker.apdu import Transmitter
from broker.cards.hc import HealthCardSession
from broker.cards.hpc import HpcSession
from broker.cards.records import Environment
from broker.cards.sam import SamSession


@dataclass(frozen=True)
class CardIdentity:
    """A card's kind (``HC``, ``HPC``, ``DOC``, ``SAM``) and number; kind None if unknown."""

    kind: str | None
    card_id: str | None = None
    environment: Environment | None = None  # None when the card does not say


def identify(connection: Transmitter) -> CardIdentity:
    """Try the HC's real SELECT and READ first, then the HPC and SAM applications.

    Card absence (``CardAbsentError``) propagates; anything else just means
    "not this kind".
    """
    hc = HealthCardSession(connection)
    try:
        hc.select()
        card_id = hc.read_profile().card_id
    except errors.CardAbsentError:
        raise
    except errors.BrokerError:
        pass
    else:
        return CardIdentity("HC", card_id, _environment(hc))
    for session in (HpcSession(connection), SamSession(connection)):
        try:
            session.select()
            info = session.card_info()
        except errors.CardAbsentError:
            raise
        except errors.BrokerError:
            continue
        return CardIdentity(info.kind, info.card_id, info.environment)
    return CardIdentity(None)


def _environment(hc: HealthCardSession) -> Environment | None:
    try:
        return hc.card_info().environment
    except errors.CardAbsentError:
        raise
    except errors.BrokerError:
        return None
