"""The health card (健保卡) emulator.

Real commands: SELECT of the HC application and READ of the 57-byte public
profile. Ours (docs/cards.md): card info, identity status and marks after
mutual authentication, the optional card PIN, data authentication.
"""

from __future__ import annotations

from broker.apdu import SW, CommandApdu
from broker.cards import commands as cmd
from broker.cards.records import HcProfile
from broker.emulators.card import PinCounter, SwError
from broker.emulators.keys import mac
from broker.emulators.nhi_card import NhiCardEmulator, valid_pin_format
from broker.emulators.people import HcPerson

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
        self.select_answers_6d00 = False  # some new cards do (FACTS); READ still works
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
        self.handlers[cmd.Ins.SELECT] = self._select_quirky
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

    def _select_quirky(self, command: CommandApdu) -> bytes:
        if self.select_answers_6d00 and command.p1 == 0x04:
            raise SwError(SW.INS_NOT_SUPPORTED)
        return self._select_aid(command)

    def _get_data_or_profile(self, command: CommandApdu) -> bytes:
        if command.cla == cmd.CLA_ISO and command.p1 == 0x11:
            return self.profile.encode()  # the real public READ
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
