"""HealthCardSession: the health card's public profile, PIN, marks, SAM authentication."""

from __future__ import annotations

from broker import errors
from broker.apdu import SW, CommandApdu
from broker.cards import commands as cmd
from broker.cards.auth import mutual_authenticate
from broker.cards.records import CardInfo, HcProfile, PinStatus
from broker.cards.sam import SamSession
from broker.cards.session import CardSession, check_pin_format, pin_apdu
from broker.codes import Code


class HealthCardSession(CardSession):
    """Verbs of a physical health card (健保卡)."""

    aid = cmd.HC_AID

    def select(self) -> None:
        """SELECT the HC application; tolerate 6D00, which some new cards answer (docs/cards.md)."""
        response = self.channel.exchange(
            CommandApdu(cmd.CLA_ISO, cmd.Ins.SELECT, 0x04, 0x00, self.aid)
        )
        if response.sw not in (SW.OK, SW.INS_NOT_SUPPORTED):
            raise errors.NotSupportedError(response.sw, "SELECT", code=Code.SELECT_FAILED)

    def read_profile(self) -> HcProfile:
        """The public profile with the real READ (57 bytes, Big5 name, ROC dates)."""
        command = CommandApdu.decode(cmd.HC_READ_PROFILE)
        try:
            raw = self.channel.send(command)
            return HcProfile.decode(raw)
        except errors.ApduError as exc:  # an HPC answers 6A86 (docs/cards.md)
            raise errors.BrokerError("not a health card", code=Code.HC_MODE1_FAILED) from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.BrokerError("malformed profile", code=Code.HC_MODE1_FAILED) from exc

    def card_info(self) -> CardInfo:
        """Kind, number and formal/test flag; 1500 if the card is not an HC."""
        info = super().card_info()
        if info.kind != "HC":
            raise errors.BrokerError(
                f"a {info.kind} card is not a health card", code=Code.HC_MODE1_FAILED
            )
        return info

    def authenticate(self, sam: SamSession) -> None:
        """Mutual authentication with the SAM (HC state 2); 1501 or 1003 on failure."""
        mutual_authenticate(self, self.card_info(), sam, cmd.SAM_CARD_HC, Code.HC_MODE2_FAILED)

    def identity_status(self) -> str:
        """身分註記 (1 福民, 2 榮民, 3 一般, 4 中低收入, 8 災民); needs authentication."""
        items = self.get_data(cmd.DO_HOLDER)
        return items[cmd.Tag.IDENTITY_STATUS].decode("ascii")

    def pin_status(self) -> PinStatus:
        """Whether the card has a PIN, and whether it was verified since reset."""
        sw = self.channel.exchange(pin_apdu(cmd.Ins.VERIFY, 0, b"")).sw
        if sw == SW.OK:
            return PinStatus(has_pin=True, verified=True, tries_left=3, blocked=False)
        if sw == SW.REFERENCE_DATA_NOT_USABLE:
            return PinStatus(has_pin=False, verified=False, tries_left=0, blocked=False)
        if sw == SW.AUTH_METHOD_BLOCKED:
            return PinStatus(has_pin=True, verified=False, tries_left=0, blocked=True)
        if sw & 0xFFF0 == 0x63C0:
            return PinStatus(has_pin=True, verified=False, tries_left=sw & 0x0F, blocked=False)
        raise errors.ApduError(sw, "PIN status", code=Code.HC_PIN_FAILED)

    def verify_pin(self, pin: str) -> None:
        """Verify the card PIN once (never retried); 1514 wrong, 1510 none set."""
        data = check_pin_format(pin, "pin")
        try:
            self.channel.send(pin_apdu(cmd.Ins.VERIFY, 0, data))
        except (errors.WrongPinError, errors.PinBlockedError) as exc:
            raise type(exc)(exc.sw, code=Code.HC_PIN_FAILED) from exc
        except errors.NoPinSetError as exc:
            raise errors.NoPinSetError(exc.sw) from exc

    def set_pin(self, new_pin: str) -> None:
        """Set (or change) the PIN; 1511 if a PIN is set but not verified."""
        data = check_pin_format(new_pin, "newPin")
        try:
            self.channel.send(pin_apdu(cmd.Ins.CHANGE_REFERENCE_DATA, 1, data))
        except errors.SecurityStatusError as exc:
            raise errors.SecurityStatusError(exc.sw, code=Code.HC_PIN_NOT_VERIFIED) from exc

    def clear_pin(self) -> None:
        """Remove the PIN; 1510 if none is set, 1511 if not verified."""
        command = CommandApdu(cmd.CLA_ISO, cmd.Ins.DISABLE_VERIFICATION, 0, cmd.PIN_REFERENCE)
        try:
            self.channel.send(command)
        except errors.SecurityStatusError as exc:
            raise errors.SecurityStatusError(exc.sw, code=Code.HC_PIN_NOT_VERIFIED) from exc

    def read_marks(self) -> bytes:
        """The marks file (needs authentication)."""
        return self.read_file(cmd.FID_HC_MARKS)

    def update_marks(self, marks: bytes, offset: int = 0) -> None:
        """Write ``marks`` into the marks file at ``offset`` (needs authentication)."""
        self.select_file(cmd.FID_HC_MARKS)
        self.channel.send(
            CommandApdu(cmd.CLA_ISO, cmd.Ins.UPDATE_BINARY, offset >> 8, offset & 0xFF, marks)
        )

    def authenticate_data(self, data: bytes) -> bytes:
        """The card's MAC over ``data`` under its own key (needs authentication)."""
        return self.channel.send(
            CommandApdu(cmd.CLA_ISO, cmd.Ins.INTERNAL_AUTHENTICATE, 0, 0, data, le=256)
        )
