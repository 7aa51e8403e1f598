"""SamSession: a security module's identity, DC authentication steps, signing."""

from __future__ import annotations

import hashlib

from broker import errors
from broker.apdu import CommandApdu
from broker.cards import commands as cmd
from broker.cards.records import BIG5, SamIdentity
from broker.cards.session import CardSession


class SamSession(CardSession):
    """Verbs of a SAM (physical in a serial reader, or a cloud SAM in process)."""

    aid = cmd.SAM_AID

    def identity(self) -> SamIdentity:
        """SAM id, hospital id and, for a cloud SAM, the hospital's names."""
        items = self.get_data(cmd.DO_CARD_INFO)
        try:
            name = items.get(cmd.Tag.HOSPITAL_NAME)
            short = items.get(cmd.Tag.HOSPITAL_SHORT_NAME)
            return SamIdentity(
                sam_id=items[cmd.Tag.CARD_ID].decode("ascii"),
                hospital_id=items[cmd.Tag.HOSPITAL_ID].decode("ascii"),
                hospital_name=name.decode(BIG5) if name is not None else None,
                hospital_short_name=short.decode(BIG5) if short is not None else None,
            )
        except (KeyError, UnicodeDecodeError) as exc:
            raise errors.TransportError("SAM identity is incomplete") from exc

    def dc_challenge(self) -> bytes:
        """Step 1 of DC authentication: the SAM's random RS (16 bytes)."""
        return self.get_challenge(cmd.SAM_CHALLENGE_LENGTH)

    def answer_dc(self, dc_random: bytes) -> bytes:
        """Step 2: the SAM's RSA signature over its id, the DC's random and RS."""
        return self.channel.send(
            CommandApdu(cmd.CLA_ISO, cmd.Ins.INTERNAL_AUTHENTICATE, 0, 0, dc_random, le=256)
        )

    def accept_grant(self, grant: bytes) -> None:
        """Step 3: hand the DC's grant to the SAM; it is authenticated (mode 2) after."""
        self.channel.send(CommandApdu(cmd.CLA_ISO, cmd.Ins.EXTERNAL_AUTHENTICATE, 0, 0, grant))

    def sign(self, data: bytes) -> bytes:
        """RSA PKCS#1 v1.5 signature over SHA-256(data); needs DC authentication."""
        return sign_digest(self, hashlib.sha256(data).digest())

    def authenticate_card(self, family: int, card_id: str, card_random: bytes) -> bytes:
        """The SAM's half of card authentication: RS || cryptogram for the card."""
        return self.channel.send(
            CommandApdu(
                cmd.CLA_PROPRIETARY,
                cmd.Ins.SAM_AUTHENTICATE_CARD,
                0,
                family,
                card_id.encode("ascii") + card_random,
                le=256,
            )
        )

    def check_card(self, family: int, card_cryptogram: bytes) -> None:
        """Check the card's answer; raises AuthenticationFailedError if it is wrong."""
        self.channel.send(
            CommandApdu(cmd.CLA_PROPRIETARY, cmd.Ins.SAM_CHECK_CARD, 0, family, card_cryptogram)
        )


def sign_digest(session: CardSession, digest: bytes) -> bytes:
    """PSO: COMPUTE DIGITAL SIGNATURE over a SHA-256 digest (SAM and HPC alike)."""
    p1, p2 = cmd.PSO_CDS_P1P2
    return session.channel.send(CommandApdu(cmd.CLA_ISO, cmd.Ins.PSO, p1, p2, digest, le=256))
