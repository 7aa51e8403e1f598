"""The health card (健保卡) emulator.

Real commands: SELECT of the HC application and READ of the 57-byte public
profile. Ours (docs/cards.md): card info, identity status and marks after
mutual authentication, the optional card PIN, data authentication.
"""

from __future__ import annotations

from broker.apdu import SW, CommandApdu
from broker.cards import commands as cmd
from broker.cards.records import HcProfile
from nhi_kit.emulators.card import PinCounter, SwError
from nhi_kit.emulators.keys import mac
from nhi_kit.emulators.nhi_card import NhiCardEmulator, card_key, valid_pin_format
from nhi_kit.emulators.people import HcPerson

MARKS_SIZE = 64
LABEL_HC_DATA = b"NHI-HC-DATA"


class HcEmulator(NhiCardEmulator):
    """A physical health card."""

    def __init__(self, person: HcPerson) -> None:
        super().__init__(
            aid=cmd.HC_AID,
            kind="HC",
            card_id=person.card_id,
            environment=person.environment,
            family="HC",
            card_key=card_key("HC", person.card_id, person.environment),
        )
        self.person = person
        self.profile = HcProfile(
            person.card_id,
            person.name,
            person.id_no,
            person.birthday,
            person.sex,
            person.issue_date,
        )
        self.pin = PinCounter(person.pin)
        self.select_answers_6d00 = False  # some new cards do (docs/cards.md); READ still works
        self.app_selected = False
        self.files[cmd.FID_HC_MARKS] = bytearray(MARKS_SIZE)
        self.handlers.update(
            {
                cmd.Ins.VERIFY: self.verify_pin,
                cmd.Ins.CHANGE_REFERENCE_DATA: self._change_pin,
                cmd.Ins.DISABLE_VERIFICATION: self._clear_pin,
                cmd.Ins.INTERNAL_AUTHENTICATE: self._authenticate_data,
            }
        )
        self._select_aid = self.handlers[cmd.Ins.SELECT]
        self.handlers[cmd.Ins.SELECT] = self._select_hc
        self._get_data_object = self.handlers[cmd.Ins.GET_DATA]
        self.handlers[cmd.Ins.GET_DATA] = self._get_data_or_profile

    @property
    def marks(self) -> bytes:
        """The marks file's content."""
        return bytes(self.files[cmd.FID_HC_MARKS])

    def data_object(self, p2: int) -> bytes:
        """Card info (public) or identity status (after authentication)."""
        if p2 == cmd.DO_HOLDER:
            self.require_authenticated()
            return cmd.encode_tlv([(cmd.Tag.IDENTITY_STATUS, self.person.identity_status.encode())])
        return super().data_object(p2)

    def check_file_access(self, fid: int, write: bool) -> None:
        """The marks file needs SAM authentication for reading and writing."""
        self.require_authenticated()

    def reset_volatile(self) -> None:
        """A reset also forgets which application was selected."""
        super().reset_volatile()
        self.app_selected = False

    def _select_hc(self, command: CommandApdu) -> bytes:
        """The public SELECT (with or without Le, or the 15-byte name C# readers send)."""
        if command.p1 != 0x04:
            return self._select_aid(command)  # a file of the application
        if self.select_answers_6d00:
            raise SwError(SW.INS_NOT_SUPPORTED)
        if command.data not in (cmd.HC_AID, cmd.HC_AID_SHORT):
            self.app_selected = False
            raise SwError(SW.FILE_NOT_FOUND)
        self.app_selected = True
        return b""

    def _get_data_or_profile(self, command: CommandApdu) -> bytes:
        if command.cla == cmd.CLA_ISO and command.p1 == 0x11:
            # The real public READ. Without the application selected a card answers 6A86,
            # as an HPC does to this READ; the cards that answer SELECT with 6D00 read anyway.
            if not (self.app_selected or self.select_answers_6d00):
                raise SwError(SW.INCORRECT_P1P2)
            return self.profile.encode()
        return self._get_data_object(command)

    def _change_pin(self, command: CommandApdu) -> bytes:
        self.require_authenticated()
        if self.pin.is_set and not self.pin_verified:
            raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)
        if not valid_pin_format(command.data):
            raise SwError(SW.WRONG_DATA)
        self.pin.reset(command.data.decode())
        self.pin_verified = True
        return b""

    def _clear_pin(self, command: CommandApdu) -> bytes:
        self.require_authenticated()
        if not self.pin.is_set:
            raise SwError(SW.REFERENCE_DATA_NOT_USABLE)
        if not self.pin_verified:
            raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)
        self.pin.reset(None)
        self.pin_verified = False
        return b""

    def _authenticate_data(self, command: CommandApdu) -> bytes:
        self.require_authenticated()
        if not command.data:
            raise SwError(SW.WRONG_LENGTH)
        return mac(self._key, LABEL_HC_DATA + command.data)
