"""The security module (安全模組, SAM) application (our commands, docs/cards.md).

A cloud SAM runs it in the broker's process from its imported ``.SAM`` file;
the kit's physical SAMs are the same application on an emulated card.

DC authentication: the SAM gives a challenge RS; it signs the DC's random
(INTERNAL AUTHENTICATE, RSA) so the DC knows the SAM; the DC's grant (an
ECDSA signature over the SAM id and RS, EXTERNAL AUTHENTICATE) puts the SAM
in its authenticated state. Three failed grants in a row block a SAM for
good, which is why the broker never verifies a physical SAM by itself.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from broker.apdu import SW, CommandApdu
from broker.cards import commands as cmd
from broker.cards.applet import SwError, make_atr
from broker.cards.crypto import cryptogram, derive_card_key
from broker.cards.nhi_applet import NhiApplet
from broker.cards.records import BIG5, Environment, SamIdentity

MAX_GRANT_FAILURES = 3
CARD_FAMILIES = {cmd.SAM_CARD_HC: "HC", cmd.SAM_CARD_HPC: "HPC"}


class SamApplet(NhiApplet):
    """A SAM holding its RSA key, the DC's grant key and the card issuers' masters."""

    def __init__(
        self,
        identity: SamIdentity,
        key: rsa.RSAPrivateKey,
        dc_grant_key: ec.EllipticCurvePublicKey,
        issuer_masters: dict[str, bytes],
    ) -> None:
        environment = Environment.of_sam_id(identity.sam_id)
        super().__init__(
            aid=cmd.SAM_AID,
            kind="SAM",
            card_id=identity.sam_id,
            environment=environment,
            family="SAM",
        )
        self.atr = make_atr(b"NHI-SAM")
        self.identity = identity
        self.key = key
        self.dc_grant_key = dc_grant_key
        self.grant_failures = 0
        self._masters = {p2: issuer_masters[family] for p2, family in CARD_FAMILIES.items()}
        self._dc_challenge: bytes | None = None
        self._pending_card: tuple[int, bytes, bytes, bytes] | None = None
        self.handlers.update(
            {
                cmd.Ins.INTERNAL_AUTHENTICATE: self._internal_authenticate,
                cmd.Ins.PSO: self._sign,
                cmd.Ins.SAM_AUTHENTICATE_CARD: self._authenticate_card,
                cmd.Ins.SAM_CHECK_CARD: self._check_card,
            }
        )
        del self.handlers[cmd.Ins.READ_BINARY], self.handlers[cmd.Ins.UPDATE_BINARY]

    @property
    def blocked(self) -> bool:
        """Whether too many failed DC grants locked the SAM."""
        return self.grant_failures >= MAX_GRANT_FAILURES

    def reset_volatile(self) -> None:
        """The DC session and any card authentication in progress end at reset."""
        super().reset_volatile()
        self._dc_challenge = None
        self._pending_card = None

    def data_object(self, p2: int) -> bytes:
        """Identity: SAM id, hospital id, names (cloud SAMs only)."""
        if p2 != cmd.DO_CARD_INFO:
            raise SwError(SW.FILE_NOT_FOUND)
        items = [
            (cmd.Tag.CARD_KIND, b"SAM"),
            (cmd.Tag.CARD_ID, self.identity.sam_id.encode()),
            (cmd.Tag.HOSPITAL_ID, self.identity.hospital_id.encode()),
            (cmd.Tag.ENVIRONMENT, self.environment.value.encode()),
        ]
        if self.identity.hospital_name is not None:
            items.append((cmd.Tag.HOSPITAL_NAME, self.identity.hospital_name.encode(BIG5)))
        if self.identity.hospital_short_name is not None:
            items.append(
                (cmd.Tag.HOSPITAL_SHORT_NAME, self.identity.hospital_short_name.encode(BIG5))
            )
        return cmd.encode_tlv(items)

    def _get_challenge(self, command: CommandApdu) -> bytes:
        if command.le != cmd.SAM_CHALLENGE_LENGTH:
            raise SwError(SW.WRONG_LENGTH)
        self._dc_challenge = os.urandom(cmd.SAM_CHALLENGE_LENGTH)
        self.authenticated = False
        return self._dc_challenge

    def _internal_authenticate(self, command: CommandApdu) -> bytes:
        if self._dc_challenge is None:
            raise SwError(SW.CONDITIONS_NOT_SATISFIED)
        if len(command.data) != cmd.SAM_CHALLENGE_LENGTH:
            raise SwError(SW.WRONG_LENGTH)
        message = cmd.LABEL_SAM_AUTH + self.identity.sam_id.encode() + command.data
        return self.key.sign(message + self._dc_challenge, padding.PKCS1v15(), hashes.SHA256())

    def _external_authenticate(self, command: CommandApdu) -> bytes:
        if self.blocked:
            raise SwError(SW.AUTH_METHOD_BLOCKED)
        challenge, self._dc_challenge = self._dc_challenge, None
        if challenge is None:
            raise SwError(SW.CONDITIONS_NOT_SATISFIED)
        message = cmd.LABEL_DC_GRANT + self.identity.sam_id.encode() + challenge
        try:
            self.dc_grant_key.verify(command.data, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            self.grant_failures += 1
            raise SwError(
                SW.AUTH_METHOD_BLOCKED if self.blocked else SW.VERIFICATION_FAILED
            ) from None
        self.grant_failures = 0
        self.authenticated = True
        return b""

    def _sign(self, command: CommandApdu) -> bytes:
        if (command.p1, command.p2) != cmd.PSO_CDS_P1P2:
            raise SwError(SW.INCORRECT_P1P2)
        self.require_authenticated()
        if len(command.data) != 32:
            raise SwError(SW.WRONG_LENGTH)
        return self.key.sign(command.data, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))

    def _authenticate_card(self, command: CommandApdu) -> bytes:
        self.require_authenticated()
        master = self._masters.get(command.p2)
        if master is None:
            raise SwError(SW.INCORRECT_P1P2)
        card_id, card_random = command.data[: -cmd.CHALLENGE_LENGTH], command.data[-8:]
        if not card_id.isdigit() or len(card_random) != cmd.CHALLENGE_LENGTH:
            raise SwError(SW.WRONG_DATA)
        key = derive_card_key(master, card_id.decode())
        sam_random = os.urandom(cmd.CHALLENGE_LENGTH)
        self._pending_card = (command.p2, key, card_random, sam_random)
        return sam_random + cryptogram(key, cmd.LABEL_SAM_TO_CARD, card_random, sam_random)

    def _check_card(self, command: CommandApdu) -> bytes:
        pending, self._pending_card = self._pending_card, None
        if pending is None or pending[0] != command.p2:
            raise SwError(SW.CONDITIONS_NOT_SATISFIED)
        _, key, card_random, sam_random = pending
        if command.data != cryptogram(key, cmd.LABEL_CARD_TO_SAM, sam_random, card_random):
            raise SwError(SW.VERIFICATION_FAILED)
        return b""
