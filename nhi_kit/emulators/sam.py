"""The kit's SAMs: the SAM application (``broker.cards.sam_applet``) on an emulated card, with the
kit's keys and issuer masters. A physical SAM sits in the emulated serial reader."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from broker.cards.records import SamIdentity
from broker.cards.sam_applet import CARD_FAMILIES, MAX_GRANT_FAILURES, SamApplet
from nhi_kit.emulators.keys import issuer_master
from nhi_kit.emulators.people import SamRecord

__all__ = ["MAX_GRANT_FAILURES", "SamEmulator"]


class SamEmulator(SamApplet):
    """One of the kit's SAMs; ``record`` is its entry in the kit's people."""

    def __init__(
        self,
        record: SamRecord,
        key: rsa.RSAPrivateKey,
        dc_grant_key: ec.EllipticCurvePublicKey,
        issuer_masters: dict[str, bytes] | None = None,
    ) -> None:
        masters = issuer_masters or {
            family: issuer_master(family, record.environment) for family in CARD_FAMILIES.values()
        }
        identity = SamIdentity(
            record.sam_id, record.hospital_id, record.hospital_name, record.hospital_short_name
        )
        super().__init__(identity, key, dc_grant_key, masters)
        self.record = record
