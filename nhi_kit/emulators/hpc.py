"""The health-professional card (醫事人員卡) emulator (our command set, docs/cards.md)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils
from cryptography.hazmat.primitives.serialization import Encoding

from broker.apdu import SW, CommandApdu
from broker.cards import commands as cmd
from broker.cards.records import BIG5
from nhi_kit.emulators import pki
from nhi_kit.emulators.card import PinCounter, SwError
from nhi_kit.emulators.keys import rsa_key
from nhi_kit.emulators.nhi_card import NhiCardEmulator, card_key, valid_pin_format
from nhi_kit.emulators.people import HpcPerson

PUK_TRIES = 10
DIGEST_LENGTH = 32


class HpcEmulator(NhiCardEmulator):
    """A health-professional (or doctor) card with a signing key and certificates."""

    def __init__(self, person: HpcPerson) -> None:
        super().__init__(
            aid=cmd.HPC_AID,
            kind=person.kind,
            card_id=person.card_id,
            environment=person.environment,
            family="HPC",
            card_key=card_key("HPC", person.card_id, person.environment),
        )
        self.person = person
        self.pin = PinCounter(person.pin, tries_left=person.pin_tries_left)
        self.puk = PinCounter(person.puk, max_tries=PUK_TRIES)
        self.signing_key = rsa_key(f"hpc-{person.card_id}")
        self.certificate = pki.card_certificate(person.card_id, person.c_name, person.certificate)
        issuer = (
            pki.rogue_certificate() if person.certificate == "untrusted" else pki.hca_certificate()
        )
        self.files[cmd.FID_CA_CERT] = bytearray(issuer.public_bytes(Encoding.DER))
        self.files[cmd.FID_USER_CERT] = bytearray(self.certificate.public_bytes(Encoding.DER))
        self._get_data_object = self.handlers[cmd.Ins.GET_DATA]
        self.handlers.update(
            {
                cmd.Ins.GET_DATA: self._get_data_refusing_hc_read,
                cmd.Ins.VERIFY: self.verify_pin,
                cmd.Ins.CHANGE_REFERENCE_DATA: self._change_pin,
                cmd.Ins.RESET_RETRY_COUNTER: self._unblock,
                cmd.Ins.PSO: self._sign,
            }
        )

    def data_object(self, p2: int) -> bytes:
        """Card info (public) or the holder's data (after PIN verification)."""
        if p2 == cmd.DO_HOLDER:
            self.require_pin()
            return cmd.encode_tlv(
                [
                    (cmd.Tag.CARD_ID, self.card_id.encode()),
                    (cmd.Tag.ID_NO, self.person.id_no.encode()),
                    (cmd.Tag.C_NAME, self.person.c_name.encode(BIG5)),
                    (cmd.Tag.E_NAME, self.person.e_name.encode("ascii")),
                ]
            )
        return super().data_object(p2)

    def require_pin(self) -> None:
        """Refuse unless the PIN was verified since the last reset."""
        if not self.pin_verified:
            raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)

    def _get_data_refusing_hc_read(self, command: CommandApdu) -> bytes:
        if command.cla == cmd.CLA_ISO and command.p1 == 0x11:
            raise SwError(SW.INCORRECT_P1P2)  # an HC READ sent to an HPC (docs/cards.md)
        return self._get_data_object(command)

    def _change_pin(self, command: CommandApdu) -> bytes:
        self.require_pin()
        if not valid_pin_format(command.data):
            raise SwError(SW.WRONG_DATA)
        self.pin.reset(command.data.decode())
        return b""

    def _unblock(self, command: CommandApdu) -> bytes:
        if command.p2 != cmd.PIN_REFERENCE:
            raise SwError(SW.INCORRECT_P1P2)
        puk, new_pin = command.data[: cmd.PUK_LENGTH], command.data[cmd.PUK_LENGTH :]
        if len(puk) != cmd.PUK_LENGTH or not valid_pin_format(new_pin):
            raise SwError(SW.WRONG_DATA)
        self.puk.check(puk.decode())
        self.pin.reset(new_pin.decode())
        self.pin_verified = False
        return b""

    def _sign(self, command: CommandApdu) -> bytes:
        if (command.p1, command.p2) != cmd.PSO_CDS_P1P2:
            raise SwError(SW.INCORRECT_P1P2)
        self.require_pin()
        if len(command.data) != DIGEST_LENGTH:
            raise SwError(SW.WRONG_LENGTH)
        return self.signing_key.sign(
            command.data, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
        )
