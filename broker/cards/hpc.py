"""HpcSession: a health-professional card's holder, PIN, PUK, certificates, signatures."""

from __future__ import annotations

import hashlib

from cryptography import x509

from broker import errors
from broker.apdu import ResponseApdu, checked
from broker.cards import commands as cmd
from broker.cards.auth import mutual_authenticate
from broker.cards.records import BIG5, CardInfo, HpcBasicData
from broker.cards.sam import SamSession, sign_digest
from broker.cards.session import CardSession, check_pin_format, pin_apdu
from broker.codes import Code
from broker.transport.base import PinPad

HPC_KINDS = ("HPC", "DOC")


class HpcSession(CardSession):
    """Verbs of a health-professional (or doctor) card (醫事人員卡)."""

    aid = cmd.HPC_AID

    def card_info(self) -> CardInfo:
        """Kind, number and formal/test flag; 1400 if the card is not an HPC."""
        info = super().card_info()
        if info.kind not in HPC_KINDS:
            raise errors.BrokerError(
                f"a {info.kind} card is not an HPC", code=Code.HPC_MODE1_FAILED
            )
        return info

    def authenticate(self, sam: SamSession) -> None:
        """Mutual authentication with the SAM (HCA state 2); 1401 or 1003 on failure."""
        mutual_authenticate(self, self.card_info(), sam, cmd.SAM_CARD_HPC, Code.HPC_MODE2_FAILED)

    def basic_data(self) -> HpcBasicData:
        """Card number, ID number, names (needs the PIN verified)."""
        info = self.card_info()
        items = self.get_data(cmd.DO_HOLDER)
        return HpcBasicData(
            card_id=items[cmd.Tag.CARD_ID].decode("ascii"),
            id_no=items[cmd.Tag.ID_NO].decode("ascii"),
            c_name=items[cmd.Tag.C_NAME].decode(BIG5),
            e_name=items[cmd.Tag.E_NAME].decode("ascii"),
            kind=info.kind,
            environment=info.environment,
        )

    def pin_tries_left(self) -> int:
        """Tries left before the PIN blocks (0 if blocked); 3 if verified now."""
        sw = self.channel.exchange(pin_apdu(cmd.Ins.VERIFY, 0, b"")).sw
        if sw == 0x9000:
            return 3
        if sw & 0xFFF0 == 0x63C0:
            return sw & 0x0F
        return 0

    def verify_pin(self, pin: str) -> None:
        """Verify once, never retried; WrongPinError(tries_left) or PinBlockedError, 1410."""
        self.channel.send(pin_apdu(cmd.Ins.VERIFY, 0, check_pin_format(pin, "pin")))

    def verify_pin_on_pad(self, pad: PinPad) -> None:
        """Verify with the PIN typed on the reader's pad; the PIN never reaches the host.

        Manual: a test doctor card in a dedicated reader takes its PIN there.
        """
        header = bytes((cmd.CLA_ISO, cmd.Ins.VERIFY, 0, cmd.PIN_REFERENCE))
        try:
            response = ResponseApdu.decode(pad.pin_pad_verify(header))
        except ValueError as exc:
            raise errors.TransportError("malformed PIN pad response") from exc
        except (errors.PinPadTimeoutError, errors.PinPadCancelledError) as exc:
            # Nothing reached the card: no try was used, the card did not reach mode 3.
            raise type(exc)(exc.detail, code=Code.HPC_MODE3_FAILED) from exc
        checked(response, cmd.Ins.VERIFY)

    def set_pin(self, new_pin: str) -> None:
        """Change the PIN (needs the PIN verified)."""
        data = check_pin_format(new_pin, "newPin")
        self.channel.send(pin_apdu(cmd.Ins.CHANGE_REFERENCE_DATA, 1, data))

    def unblock(self, puk: str, new_pin: str) -> None:
        """Reset the PIN with the PUK; a wrong PUK counts down its own tries."""
        if not (len(puk) == cmd.PUK_LENGTH and puk.isascii() and puk.isdigit()):
            raise errors.InvalidParameterError(f"puk must be {cmd.PUK_LENGTH} digits")
        data = puk.encode("ascii") + check_pin_format(new_pin, "newPin")
        self.channel.send(pin_apdu(cmd.Ins.RESET_RETRY_COUNTER, 0, data))

    def certificates(self) -> tuple[x509.Certificate, x509.Certificate]:
        """The HCA (issuer) certificate and the card's signing certificate."""
        try:
            ca = x509.load_der_x509_certificate(self.read_file(cmd.FID_CA_CERT))
            user = x509.load_der_x509_certificate(self.read_file(cmd.FID_USER_CERT))
        except ValueError as exc:
            raise errors.BrokerError("unreadable certificate", code=Code.HPC_UNSUPPORTED) from exc
        return ca, user

    def sign(self, data: bytes) -> bytes:
        """RSA PKCS#1 v1.5 signature over SHA-256(data) (needs the PIN verified)."""
        return sign_digest(self, hashlib.sha256(data).digest())
