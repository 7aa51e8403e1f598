"""What every card session shares: an APDU channel, SELECT, card info, PIN checks."""

from __future__ import annotations

from broker import errors
from broker.apdu import ApduChannel, CommandApdu, Transmitter
from broker.cards import commands as cmd
from broker.cards.records import CardInfo, Environment
from broker.codes import Code


class CardSession:
    """A card application reached over one connection; subclasses add typed verbs."""

    aid: bytes = b""

    def __init__(self, connection: Transmitter) -> None:
        self.channel = ApduChannel(connection)

    def select(self) -> None:
        """SELECT the application by AID; 1103 if the card does not have it."""
        try:
            self.channel.send(CommandApdu(cmd.CLA_ISO, cmd.Ins.SELECT, 0x04, 0x00, self.aid))
        except errors.ApduError as exc:
            raise errors.NotSupportedError(exc.sw, "SELECT", code=Code.SELECT_FAILED) from exc

    def get_data(self, p2: int) -> dict[int, bytes]:
        """GET DATA of one of the kit's TLV data objects."""
        data = self.channel.send(
            CommandApdu(cmd.CLA_PROPRIETARY, cmd.Ins.GET_DATA, 0x00, p2, le=256)
        )
        try:
            return cmd.decode_tlv(data)
        except ValueError as exc:
            raise errors.TransportError(f"malformed data object {p2:02X}") from exc

    def card_info(self) -> CardInfo:
        """Kind, number and formal/test flag (public)."""
        items = self.get_data(cmd.DO_CARD_INFO)
        try:
            return CardInfo(
                kind=items[cmd.Tag.CARD_KIND].decode("ascii"),
                card_id=items[cmd.Tag.CARD_ID].decode("ascii"),
                environment=Environment(items[cmd.Tag.ENVIRONMENT].decode("ascii")),
            )
        except (KeyError, ValueError) as exc:
            raise errors.TransportError("card info is incomplete") from exc

    def get_challenge(self, length: int = cmd.CHALLENGE_LENGTH) -> bytes:
        """A fresh random from the card."""
        return self.channel.send(
            CommandApdu(cmd.CLA_ISO, cmd.Ins.GET_CHALLENGE, 0x00, 0x00, le=length)
        )

    def external_authenticate(self, data: bytes) -> bytes:
        """EXTERNAL AUTHENTICATE with ``data``; returns the card's answer."""
        command = CommandApdu(cmd.CLA_ISO, cmd.Ins.EXTERNAL_AUTHENTICATE, 0, 0, data, le=256)
        return self.channel.send(command)

    def select_file(self, fid: int) -> None:
        """SELECT an elementary file by its two-byte id."""
        self.channel.send(
            CommandApdu(cmd.CLA_ISO, cmd.Ins.SELECT, 0x02, 0x0C, fid.to_bytes(2, "big"))
        )

    def read_file(self, fid: int) -> bytes:
        """The whole content of an elementary file, read in 256-byte steps."""
        self.select_file(fid)
        content = b""
        while True:
            offset = len(content)
            command = CommandApdu(
                cmd.CLA_ISO, cmd.Ins.READ_BINARY, offset >> 8, offset & 0xFF, le=256
            )
            try:
                chunk = self.channel.send(command)
            except errors.ApduError as exc:
                if exc.sw == 0x6B00 and content:  # offset past the end
                    return content
                raise
            content += chunk
            if len(chunk) < 256:
                return content


def pin_apdu(ins: int, p1: int, secret: bytes) -> CommandApdu:
    """A PIN-bearing command, marked secret so logs mask its data."""
    return CommandApdu(cmd.CLA_ISO, ins, p1, cmd.PIN_REFERENCE, secret, secret=True)


def check_pin_format(pin: str, field: str) -> bytes:
    """6 to 8 digits (manual: 請輸入6碼與8碼的 PIN 碼); 1704 naming ``field`` otherwise.

    The message never repeats the value.
    """
    if not (6 <= len(pin) <= 8 and pin.isascii() and pin.isdigit()):
        raise errors.InvalidParameterError(f"{field} must be 6 to 8 digits")
    return pin.encode("ascii")
