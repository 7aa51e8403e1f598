"""HcaActor: a station's health professional — an HPC or doctor card in a reader, or a
mobile certificate — and its state (0 none, 1 present, 2 verified, 3 PIN verified)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from actors.base import Forwarded, Handlers, StateMovedError, Supervised
from actors.departures import Departures
from actors.holder import RESET, CardHolderActor
from actors.messages import Message
from actors.reader import CardSeen
from broker import errors
from broker.answers import CardIds, HpcHolder
from broker.cards.hpc import HpcSession
from broker.cards.records import Environment
from broker.codes import Code
from broker.dc.client import DcClient
from broker.dc.records import HcaHolder
from broker.state import HcaStatus, HcaType, StateBoard
from broker.transport.base import CardConnection, PinPad

KIND_TYPES = {"HPC": HcaType.HPC, "DOC": HcaType.DOCTOR}


@dataclass(frozen=True)
class HcaView:
    """The HCA's state as the station needs it."""

    hca_type: HcaType
    status: HcaStatus
    card_id: str | None
    generation: int
    environment: Environment | None


@dataclass(frozen=True, kw_only=True)
class GetHca(Message[HcaView]):
    """The HCA's state."""


@dataclass(frozen=True, kw_only=True)
class HcaVerified(Message[None]):
    """The SAM authenticated the card of ``generation`` (1 → 2)."""

    generation: int


@dataclass(frozen=True, kw_only=True)
class HcaVerifyPin(Message[None]):
    """Verify the PIN once, then have the DC check the card.

    On a reader with a PIN pad (the dedicated serial reader) the holder types
    the PIN there and ``pin`` is never sent: clients in that mode send a
    placeholder, and sending it would burn one of the card's three tries.
    """

    pin: str | None
    session: str


@dataclass(frozen=True, kw_only=True)
class HcaLogout(Message[None]):
    """3 → 2; with ``sam_gone`` (the SAM logged out) back to 1, a mobile certificate to 0."""

    sam_gone: bool = False


@dataclass(frozen=True, kw_only=True)
class HcaMobileVerify(Message[None]):
    """A mobile HCA assertion checked by the DC (0 → 3)."""

    assertion: str
    session: str


@dataclass(frozen=True, kw_only=True)
class HcaBasicData(Message[HpcHolder]):
    """Card number, ID number, names; sent directly (not by the station), only in an ``expect``
    state."""

    expect: tuple[HcaStatus, ...] | None = None


@dataclass(frozen=True)
class HpcSignature:
    """An HPC's signature and whose card made it."""

    signature: bytes
    signer: CardIds


@dataclass(frozen=True, kw_only=True)
class HcaSign(Message[HpcSignature]):
    """The HPC's signature over ``data``."""

    data: bytes


@dataclass(frozen=True, kw_only=True)
class HcaSetPin(Message[None]):
    """Change the PIN."""

    new_pin: str


@dataclass(frozen=True, kw_only=True)
class HcaResetPin(Message[None]):
    """Unblock with the PUK and set a new PIN."""

    puk: str
    new_pin: str


class HcaActor(CardHolderActor):
    """One station's health professional."""

    kinds = ("HPC", "DOC")
    crash_code = Code.HPC_MODE1_FAILED

    def __init__(
        self,
        supervised: Supervised,
        station: str,
        board: StateBoard,
        dc: DcClient,
        departures: Departures,
    ) -> None:
        super().__init__(supervised, station, board, dc, departures)
        self._type = HcaType.NONE
        self._status = HcaStatus.NONE
        self._environment: Environment | None = None
        self._mobile: HcaHolder | None = None

    def handlers(self) -> Handlers:
        """Each message this actor takes, and its handler."""
        return {
            **super().handlers(),
            GetHca: self.on_get_hca,
            HcaVerified: self.on_hca_verified,
            HcaVerifyPin: self.on_hca_verify_pin,
            HcaLogout: self.on_hca_logout,
            HcaMobileVerify: self.on_hca_mobile_verify,
            HcaBasicData: self.on_hca_basic_data,
            HcaSign: self.on_hca_sign,
            HcaSetPin: self.on_hca_set_pin,
            HcaResetPin: self.on_hca_reset_pin,
        }

    def on_start(self) -> None:
        """A (re)started HCA actor holds nothing yet."""
        self._publish()

    def arrived(self, seen: CardSeen) -> None:
        """An HPC or doctor card arrived: mode 1 (a mobile certificate gives way)."""
        self._mobile = None
        self._environment = seen.identity.environment
        self._set(KIND_TYPES.get(seen.identity.kind or "", HcaType.HPC), HcaStatus.PRESENT)

    def left(self) -> None:
        """The card left: mode 0 (a mobile certificate is not affected)."""
        if self._type is not HcaType.MOBILE:
            self._set(HcaType.NONE, HcaStatus.NONE)

    def drop_remote(self) -> None:
        """Finalize: a mobile certificate is logged out."""
        self._mobile = None
        if self._type is HcaType.MOBILE:
            self._set(HcaType.NONE, HcaStatus.NONE)

    def on_get_hca(self, message: GetHca) -> HcaView:
        """The HCA's state."""
        return HcaView(self._type, self._status, self.card_id, self.generation, self._environment)

    def on_hca_verified(self, message: HcaVerified) -> None:
        """Mode 2, if it is still the card the SAM authenticated."""
        if message.generation != self.generation or self._status is not HcaStatus.PRESENT:
            raise errors.BrokerError("the card changed meanwhile", code=Code.HPC_MODE2_FAILED)
        self._set(self._type, HcaStatus.VERIFIED)

    def on_hca_verify_pin(self, message: HcaVerifyPin) -> None:
        """PIN once, never retried; then the DC checks the card's certificate (1420–1424)."""
        self._physical(message)

        waiting = self._pad_waiting

        def verify(connection: CardConnection) -> bytes:
            hpc = HpcSession(connection)
            hpc.select()
            if isinstance(connection, PinPad):
                waiting(True)
                try:
                    hpc.verify_pin_on_pad(connection)
                finally:
                    waiting(False)
            elif message.pin is None:
                raise errors.InvalidParameterError("pin is required: this reader has no PIN pad")
            else:
                hpc.verify_pin(message.pin)
            return hpc.certificates()[1].public_bytes(Encoding.DER)

        try:
            certificate = self.converse(message, verify)
        except (errors.WrongPinError, errors.PinBlockedError) as exc:
            raise type(exc)(exc.sw, code=Code.HPC_PIN_FAILED) from exc
        # The card may be pulled while the DC is asked: 1102 then, at once (at_dc_for_card).
        challenge = self.at_dc_for_card(lambda: self._dc.hca_challenge(message.session))
        signature = self.converse(message, lambda c: HpcSession(c).sign(challenge))
        holder = self.at_dc_for_card(
            lambda: self._dc.hca_verify(message.session, certificate, challenge, signature)
        )
        self.log.info("hca.pin_verified", card_id=holder.card_id)
        self._set(self._type, HcaStatus.PIN_VERIFIED)

    def on_hca_logout(self, message: HcaLogout) -> None:
        """Leave mode 3 (or every mode, when the SAM logged out)."""
        if self._type is HcaType.MOBILE:
            self._mobile = None
            self._set(HcaType.NONE, HcaStatus.NONE)
        elif self._status >= HcaStatus.VERIFIED:
            self._set(self._type, HcaStatus.PRESENT if message.sam_gone else HcaStatus.VERIFIED)

    def on_hca_mobile_verify(self, message: HcaMobileVerify) -> None:
        """A mobile certificate: the DC checks it for this hospital (1430, 1431)."""
        self._mobile = self.at_dc(lambda: self._dc.hca_mobile(message.session, message.assertion))
        self.card_id = self._mobile.card_id
        self._set(HcaType.MOBILE, HcaStatus.PIN_VERIFIED)

    def on_hca_basic_data(self, message: HcaBasicData) -> HpcHolder | Forwarded:
        """The holder's data, from the card or the mobile certificate."""
        if message.expect is not None and self._status not in message.expect:
            raise StateMovedError(f"the HCA is in state {self._status.value} now")
        if message.expect is None:
            self._require_pin_verified()
        if self._mobile is not None:
            holder = self._mobile
            return HpcHolder(
                card_id=holder.card_id, id_no=holder.id_no, c_name=holder.name, e_name=""
            )

        def read(connection: CardConnection) -> HpcHolder:
            data = _selected(connection).basic_data()
            return HpcHolder(
                card_id=data.card_id, id_no=data.id_no, c_name=data.c_name, e_name=data.e_name
            )

        return self.converse_last(message, read)

    def on_hca_sign(self, message: HcaSign) -> HpcSignature | Forwarded:
        """The card's signature and who made it; a mobile certificate cannot sign here (1403)."""
        self._require_pin_verified()
        self._physical(message)

        def sign(connection: CardConnection) -> HpcSignature:
            hpc = _selected(connection)
            data = hpc.basic_data()
            return HpcSignature(hpc.sign(message.data), CardIds(data.card_id, data.id_no))

        return self.converse_last(message, sign)

    def on_hca_set_pin(self, message: HcaSetPin) -> None:
        """Change the PIN (the PIN is verified: mode 3)."""
        self._require_pin_verified()
        self._physical(message)
        self.converse(message, lambda c: _selected(c).set_pin(message.new_pin))

    def on_hca_reset_pin(self, message: HcaResetPin) -> None:
        """Unblock with the PUK; the new PIN is not verified yet."""
        self._physical(message)
        self.converse(message, lambda c: _selected(c).unblock(message.puk, message.new_pin))
        if self._status is HcaStatus.PIN_VERIFIED:
            self._set(self._type, HcaStatus.VERIFIED)

    # --- helpers -------------------------------------------------------------

    def _require_pin_verified(self) -> None:
        """The station checked mode 3, but the card may have been reset since."""
        if self._status is not HcaStatus.PIN_VERIFIED:
            raise errors.BrokerError(RESET, code=Code.HPC_MODE3_FAILED)

    def _physical(self, message: Message[Any]) -> None:
        if self._type is HcaType.MOBILE:
            raise errors.BrokerError(
                "a mobile certificate cannot do this", code=Code.HPC_UNSUPPORTED
            )
        if self.source is None:
            raise errors.BrokerError("no health-professional card", code=Code.HPC_MODE1_FAILED)

    def _pad_waiting(self, waiting: bool) -> None:
        """Say on the read model that the reader's PIN pad waits for the holder (thread-safe)."""
        self.board.update(self.station, pin_pad_waiting=waiting)

    def _set(self, hca_type: HcaType, status: HcaStatus) -> None:
        self._type, self._status = hca_type, status
        self._publish()

    def _publish(self) -> None:
        self.board.update(self.station, hca_type=self._type, hca_status=self._status)


def _selected(connection: CardConnection) -> HpcSession:
    hpc = HpcSession(connection)
    hpc.select()
    return hpc
