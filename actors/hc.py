"""HcActor: a station's health card — physical in a reader, or virtual from a QR token —
and its state (0 none, 1 present, 2 verified, 3 verified with the HCA)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actors.base import Forwarded, Handlers, StateMovedError, Supervised
from actors.departures import Departures
from actors.holder import RESET, CardHolderActor
from actors.messages import Message, R
from actors.reader import CardSeen
from broker import errors
from broker.answers import CardIds, HcBasic, PatientData
from broker.cards.hc import HealthCardSession
from broker.cards.records import Environment, PinStatus
from broker.codes import Code
from broker.dc.client import DcClient
from broker.dc.records import VhcCard, VirtualCardBinding
from broker.rules import HC_VERIFIED
from broker.state import HcStatus, HcType, StateBoard
from broker.transport.base import CardConnection


@dataclass(frozen=True)
class HcView:
    """The HC's state as the station needs it."""

    hc_type: HcType
    status: HcStatus
    card_id: str | None
    generation: int
    environment: Environment | None
    has_pin: bool | None
    pin_verified: bool


@dataclass(frozen=True, kw_only=True)
class GetHc(Message[HcView]):
    """The HC's state."""


@dataclass(frozen=True, kw_only=True)
class HcVerified(Message[None]):
    """The SAM authenticated the card of ``generation`` (1 → 2)."""

    generation: int


@dataclass(frozen=True, kw_only=True)
class HcWithHca(Message[None]):
    """A three-card signature bound the card to the HCA (2 → 3)."""


@dataclass(frozen=True, kw_only=True)
class HcLogout(Message[None]):
    """End the card's verification and PIN verification: 1 while a physical card is in the
    reader, else 0; a virtual card is let go."""


@dataclass(frozen=True, kw_only=True)
class DcVirtualCard(Message[R]):
    """A virtual-card step the DC takes, in the SAM's session, for this device."""

    session: str
    device_id: str


@dataclass(frozen=True, kw_only=True)
class HcVirtualVerify(DcVirtualCard[None]):
    """A QR token checked by the DC (0 → 2)."""

    token: str


@dataclass(frozen=True, kw_only=True)
class HcVirtualExport(DcVirtualCard[str]):
    """Hand the virtual card to another device: its transfer code (2 → 0)."""


@dataclass(frozen=True, kw_only=True)
class HcVirtualImport(DcVirtualCard[None]):
    """Take over a virtual card exported elsewhere (0 → 2)."""

    code: str


@dataclass(frozen=True, kw_only=True)
class HcBasicData(Message[HcBasic]):
    """The card holder's data; sent directly (not by the station), only in an ``expect`` state."""

    expect: tuple[HcStatus, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class HcProof(Message[tuple[CardIds, bytes]]):
    """What an HC signature covers: the card's ids and its proof (a physical card's MAC, or
    the virtual card's id)."""

    client_random: bytes


@dataclass(frozen=True, kw_only=True)
class HcPin(Message[PinStatus]):
    """A PIN function of a physical card: ``status``, ``verify``, ``set`` or ``clear``."""

    action: str
    pin: str | None = None


@dataclass(frozen=True, kw_only=True)
class HcUpdateMarks(Message[None]):
    """Fetch the card's marks from the DC (in the SAM's ``session``) and write them into the
    physical card (2 → 0)."""

    session: str


class HcActor(CardHolderActor):
    """One station's health card."""

    kinds = ("HC",)
    crash_code = Code.HC_MODE1_FAILED

    def __init__(
        self,
        supervised: Supervised,
        station: str,
        board: StateBoard,
        dc: DcClient,
        departures: Departures,
    ) -> None:
        super().__init__(supervised, station, board, dc, departures)
        self._type = HcType.NONE
        self._status = HcStatus.NONE
        self._environment: Environment | None = None
        self._pin: PinStatus | None = None
        self._virtual: VirtualCardBinding | None = None
        self._selected = _Selected()

    def handlers(self) -> Handlers:
        """Each message this actor takes, and its handler."""
        return {
            **super().handlers(),
            GetHc: self.on_get_hc,
            HcVerified: self.on_hc_verified,
            HcWithHca: self.on_hc_with_hca,
            HcLogout: self.on_hc_logout,
            HcVirtualVerify: self.on_hc_virtual_verify,
            HcVirtualExport: self.on_hc_virtual_export,
            HcVirtualImport: self.on_hc_virtual_import,
            HcBasicData: self.on_hc_basic_data,
            HcProof: self.on_hc_proof,
            HcPin: self.on_hc_pin,
            HcUpdateMarks: self.on_hc_update_marks,
        }

    def on_start(self) -> None:
        """A (re)started HC actor holds nothing yet."""
        self._publish()

    def arrived(self, seen: CardSeen) -> None:
        """A physical card arrived: mode 1. It is the newest patient: a virtual card gives way."""
        if self._virtual is not None:
            self.log.info("hc.virtual_replaced", card_id=seen.identity.card_id)
            self._virtual = None
        self._environment = seen.identity.environment
        self._pin = None
        self._set(HcType.PHYSICAL, HcStatus.PRESENT)

    def left(self) -> None:
        """The physical card left: mode 0 (a virtual card in use stays)."""
        if self._virtual is None:
            self._pin = None
            self._set(HcType.NONE, HcStatus.NONE)

    def drop_remote(self) -> None:
        """Finalize: no virtual card is held any more."""
        self._virtual = None

    def on_get_hc(self, message: GetHc) -> HcView:
        """The HC's state."""
        has_pin = self._pin.has_pin if self._pin is not None else None
        verified = self._pin.verified if self._pin is not None else False
        card_id = self.card_id
        if self._virtual is not None:
            has_pin, verified = self._virtual.card.has_pin, self._virtual.card.pin_verified
            card_id = self._virtual.card.card_id
        return HcView(
            self._type,
            self._status,
            card_id,
            self.generation,
            self._environment,
            has_pin,
            verified,
        )

    def on_hc_verified(self, message: HcVerified) -> None:
        """Mode 2 for the card the SAM authenticated; learn whether it has a PIN."""
        if message.generation != self.generation or self._status is not HcStatus.PRESENT:
            raise errors.BrokerError("the card changed meanwhile", code=Code.HC_MODE2_FAILED)
        card = self._card()
        self._pin = self.converse(message, lambda c: card(c).pin_status())
        self._set(HcType.PHYSICAL, HcStatus.VERIFIED)

    def on_hc_with_hca(self, message: HcWithHca) -> None:
        """Mode 3."""
        self._set(self._type, HcStatus.WITH_HCA)

    def on_hc_logout(self, message: HcLogout) -> None:
        """Logged out: 1 with a physical card in the reader (reset, PIN unverified), else 0."""
        self._log_out(message)

    def on_hc_virtual_verify(self, message: HcVirtualVerify) -> None:
        """The DC verifies the token (one of its uses) and binds the card here."""
        binding = self.at_dc(
            lambda: self._dc.vhc_verify(message.session, message.token, message.device_id)
        )
        self._take_virtual(binding)

    def on_hc_virtual_export(self, message: HcVirtualExport) -> str:
        """The transfer code; the card leaves this device."""
        binding = self._virtual_only()
        code = self.at_dc(
            lambda: self._dc.vhc_export(message.session, binding.vhc_id, message.device_id)
        )
        self._log_out(message)
        return code

    def on_hc_virtual_import(self, message: HcVirtualImport) -> None:
        """The DC moves the card here."""
        self._take_virtual(
            self.at_dc(
                lambda: self._dc.vhc_import(message.session, message.code, message.device_id)
            )
        )

    def on_hc_basic_data(self, message: HcBasicData) -> HcBasic | Forwarded:
        """Profile and identity status; a virtual card has no issue date."""
        if message.expect is not None and self._status not in message.expect:
            raise StateMovedError(f"the HC is in state {self._status.value} now")
        if self._virtual is not None:
            return virtual_basic(self._virtual.card)
        card = self._verified_card()

        def read(connection: CardConnection) -> HcBasic:
            hc = card(connection)
            profile = hc.read_profile()
            return HcBasic(
                card_id=profile.card_id,
                id_no=profile.id_no,
                name=profile.name,
                birthday=profile.birthday,
                sex=profile.sex,
                identity_status=hc.identity_status(),
                date_issue=profile.issue_date,
            )

        return self.converse_last(message, read)

    def on_hc_proof(self, message: HcProof) -> tuple[CardIds, bytes] | Forwarded:
        """Whose card it is, and its proof over the client random (physical)."""
        if self._virtual is not None:
            virtual = self._virtual.card
            return CardIds(virtual.card_id, virtual.id_no), self._virtual.vhc_id.encode()
        card = self._verified_card()

        def prove(connection: CardConnection) -> tuple[CardIds, bytes]:
            hc = card(connection)
            profile = hc.read_profile()
            ids = CardIds(profile.card_id, profile.id_no)
            return ids, hc.authenticate_data(message.client_random)

        return self.converse_last(message, prove)

    def on_hc_pin(self, message: HcPin) -> PinStatus:
        """A PIN function; virtual cards have none (1526): their PIN is the app's."""
        if self._virtual is not None:
            raise errors.BrokerError(
                "a virtual card's PIN is the app's", code=Code.VHC_NO_PIN_FUNCTIONS
            )

        card = self._verified_card()

        def run(connection: CardConnection) -> PinStatus:
            hc = card(connection)
            if message.action == "verify":
                _refuse_twice(hc)
                hc.verify_pin(message.pin or "")
            elif message.action == "set":
                hc.set_pin(message.pin or "")
            elif message.action == "clear":
                hc.clear_pin()
            return hc.pin_status()

        self._pin = self.converse(message, run)
        self._publish()
        return self._pin

    def on_hc_update_marks(self, message: HcUpdateMarks) -> None:
        """Physical cards only (1515); the card is logged out afterwards (manual)."""
        if self._virtual is not None:
            raise errors.BrokerError("marks live on physical cards", code=Code.HC_PHYSICAL_ONLY)
        card = self._verified_card()
        card_id = self.card_id or ""
        marks = self.at_dc_for_card(lambda: self._dc.hc_marks(message.session, card_id))
        self.converse(message, lambda c: card(c).update_marks(marks))
        self._log_out(message)

    # --- helpers -------------------------------------------------------------

    def _verified_card(self) -> Callable[[CardConnection], HealthCardSession]:
        """``_card`` for work that needs mode 2: the station checked it, but the card may
        have been reset since (its reader restarted, or it was re-inserted)."""
        if self._status not in HC_VERIFIED:
            raise errors.BrokerError(RESET, code=Code.HC_MODE2_FAILED)
        return self._card()

    def _card(self) -> Callable[[CardConnection], HealthCardSession]:
        """What makes the card's session in a conversation (in the reader's thread).

        SELECT once per card: each APDU costs a slow card's time.
        """
        generation, selected = self.generation, self._selected

        def session(connection: CardConnection) -> HealthCardSession:
            hc = HealthCardSession(connection)
            if selected.generation != generation:
                hc.select()
                selected.generation = generation
            return hc

        return session

    def _log_out(self, message: Message[Any]) -> None:
        """No verification survives: a physical card is reset, a virtual card let go."""
        self._virtual = None
        self._pin = None
        if self.source is None:
            self._set(HcType.NONE, HcStatus.NONE)
            return
        self.end_session(message)
        self._selected.generation = -1  # a reset card has no application selected
        self._set(HcType.PHYSICAL, HcStatus.PRESENT)

    def _take_virtual(self, binding: VirtualCardBinding) -> None:
        self._virtual = binding
        self._set(HcType.VIRTUAL, HcStatus.VERIFIED)

    def _virtual_only(self) -> VirtualCardBinding:
        if self._virtual is None:
            raise errors.BrokerError("only a virtual card moves", code=Code.HC_VIRTUAL_ONLY)
        return self._virtual

    def _set(self, hc_type: HcType, status: HcStatus) -> None:
        self._type, self._status = hc_type, status
        self._publish()

    def _publish(self) -> None:
        view = self.on_get_hc(GetHc())
        self.board.update(
            self.station,
            hc_type=self._type,
            hc_status=self._status,
            hc_has_pin=view.has_pin,
            hc_pin_verified=view.pin_verified,
        )


class _Selected:
    """The card generation whose HC application a finished SELECT chose.

    Written and read only in conversations, which run in the reader's thread
    one after another.
    """

    generation = -1


def _refuse_twice(hc: HealthCardSession) -> None:
    """1513 when the PIN is already verified: a second try could only cost a try."""
    status = hc.pin_status()
    if not status.has_pin:
        raise errors.NoPinSetError(0x6984)
    if status.verified:
        raise errors.BrokerError("the PIN is already verified", code=Code.HC_PIN_ALREADY_VERIFIED)


def virtual_patient(card: VhcCard) -> PatientData:
    """A virtual card's holder: the DC's fields of the same names."""
    shown = {field.name: getattr(card, field.name) for field in dataclasses.fields(PatientData)}
    return PatientData(**shown)


def virtual_basic(card: VhcCard) -> HcBasic:
    """A virtual card's basic data: it has no issue date."""
    return HcBasic(**dataclasses.asdict(virtual_patient(card)), date_issue=None)
