"""What an NHI card application offers (our command set, docs/cards.md): files, card info,
mutual authentication with a SAM. The SAM application and the kit's HC and HPC build on it.

Mutual authentication with a SAM (docs/cards.md): the card gives a challenge
RC; the SAM answers RS and C1 = CMAC(K, SAM>CARD | RC | RS); the card checks
C1 with its own key K and answers C2 = CMAC(K, CARD>SAM | RS | RC), which the
SAM checks. Only a SAM holding the issuer master of the card's environment
can derive K, so a formal SAM cannot authenticate a test card.
"""

from __future__ import annotations

import os

from broker.apdu import SW, CommandApdu
from broker.cards import commands as cmd
from broker.cards.applet import CardApplet, PinCounter, SwError, make_atr
from broker.cards.crypto import cryptogram
from broker.cards.records import Environment

READ_CHUNK = 256


class NhiApplet(CardApplet):
    """An NHI card application with elementary files and SAM authentication."""

    def __init__(
        self,
        *,
        aid: bytes,
        kind: str,
        card_id: str,
        environment: Environment,
        family: str,
        card_key: bytes | None = None,
    ) -> None:
        super().__init__()
        self.aid = aid
        self.kind = kind
        self._card_id = card_id
        self.environment = environment
        self.atr = make_atr(f"NHI-{family}".encode())
        self._key = card_key or b""  # the card's own key; a SAM authenticates otherwise
        self.files: dict[int, bytearray] = {}
        self.pin = PinCounter(None)  # HC and HPC set theirs; a SAM has none
        self.pin_verified = False
        self.authenticated = False
        self._challenge: bytes | None = None
        self._selected_file: int | None = None
        self.handlers.update(
            {
                cmd.Ins.SELECT: self._select,
                cmd.Ins.GET_DATA: self._get_data,
                cmd.Ins.GET_CHALLENGE: self._get_challenge,
                cmd.Ins.EXTERNAL_AUTHENTICATE: self._external_authenticate,
                cmd.Ins.READ_BINARY: self._read_binary,
                cmd.Ins.UPDATE_BINARY: self._update_binary,
            }
        )

    @property
    def card_id(self) -> str:
        """The card's printed number."""
        return self._card_id

    def reset_volatile(self) -> None:
        """Authentication, PIN verification and file selection do not survive a reset."""
        self.authenticated = False
        self.pin_verified = False
        self._challenge = None
        self._selected_file = None

    # --- hooks for subclasses ---------------------------------------------

    def data_object(self, p2: int) -> bytes:
        """The TLV answer to GET DATA 80 CA 00 p2."""
        if p2 == cmd.DO_CARD_INFO:
            return cmd.encode_tlv(
                [
                    (cmd.Tag.CARD_KIND, self.kind.encode()),
                    (cmd.Tag.CARD_ID, self._card_id.encode()),
                    (cmd.Tag.ENVIRONMENT, self.environment.value.encode()),
                ]
            )
        raise SwError(SW.FILE_NOT_FOUND)

    def check_file_access(self, fid: int, write: bool) -> None:
        """Raise SwError if the selected file may not be read (or written) now."""

    def require_authenticated(self) -> None:
        """Refuse unless mutual authentication with a SAM succeeded."""
        if not self.authenticated:
            raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)

    # --- handlers ------------------------------------------------------------

    def verify_pin(self, command: CommandApdu) -> bytes:
        """VERIFY: without data the PIN's status; with a PIN, one try (after authentication)."""
        if command.p2 != cmd.PIN_REFERENCE:
            raise SwError(SW.INCORRECT_P1P2)
        if not command.data:
            if self.pin_verified:
                return b""
            raise SwError(self.pin.status_sw())
        self.require_authenticated()
        if not valid_pin_format(command.data):
            raise SwError(SW.WRONG_DATA)
        self.pin.check(command.data.decode())
        self.pin_verified = True
        return b""

    def _select(self, command: CommandApdu) -> bytes:
        if command.p1 == 0x04:
            if command.data != self.aid:
                raise SwError(SW.FILE_NOT_FOUND)
            self._selected_file = None
            return b""
        if command.p1 == 0x02 and len(command.data) == 2:
            fid = int.from_bytes(command.data, "big")
            if fid not in self.files:
                raise SwError(SW.FILE_NOT_FOUND)
            self._selected_file = fid
            return b""
        raise SwError(SW.INCORRECT_P1P2)

    def _get_data(self, command: CommandApdu) -> bytes:
        if command.cla != cmd.CLA_PROPRIETARY or command.p1 != 0x00:
            raise SwError(SW.INCORRECT_P1P2)
        return self.data_object(command.p2)

    def _get_challenge(self, command: CommandApdu) -> bytes:
        if command.le != cmd.CHALLENGE_LENGTH:
            raise SwError(SW.WRONG_LENGTH)
        self._challenge = os.urandom(cmd.CHALLENGE_LENGTH)
        self.authenticated = False
        return self._challenge

    def _external_authenticate(self, command: CommandApdu) -> bytes:
        challenge, self._challenge = self._challenge, None
        if challenge is None:
            raise SwError(SW.CONDITIONS_NOT_SATISFIED)
        if len(command.data) != cmd.CHALLENGE_LENGTH + cmd.CRYPTOGRAM_LENGTH:
            raise SwError(SW.WRONG_LENGTH)
        sam_random = command.data[: cmd.CHALLENGE_LENGTH]
        if not self._key:
            raise SwError(SW.INS_NOT_SUPPORTED)
        expected = cryptogram(self._key, cmd.LABEL_SAM_TO_CARD, challenge, sam_random)
        if command.data[cmd.CHALLENGE_LENGTH :] != expected:
            raise SwError(SW.VERIFICATION_FAILED)
        self.authenticated = True
        return cryptogram(self._key, cmd.LABEL_CARD_TO_SAM, sam_random, challenge)

    def _selected(self, write: bool) -> bytearray:
        if self._selected_file is None:
            raise SwError(SW.CONDITIONS_NOT_SATISFIED)
        self.check_file_access(self._selected_file, write)
        return self.files[self._selected_file]

    def _read_binary(self, command: CommandApdu) -> bytes:
        content = self._selected(write=False)
        offset = (command.p1 << 8) | command.p2
        if offset >= len(content):
            raise SwError(SW.WRONG_P1P2)
        return bytes(content[offset : offset + (command.le or READ_CHUNK)])

    def _update_binary(self, command: CommandApdu) -> bytes:
        content = self._selected(write=True)
        offset = (command.p1 << 8) | command.p2
        if offset + len(command.data) > len(content):
            raise SwError(SW.WRONG_LENGTH)
        content[offset : offset + len(command.data)] = command.data
        return b""


def valid_pin_format(pin: bytes) -> bool:
    """6 to 8 ASCII digits (manual: 請輸入6碼與8碼的 PIN 碼)."""
    return 6 <= len(pin) <= 8 and pin.isdigit()
