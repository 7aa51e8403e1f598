"""SamActor: one SAM (cloud or physical), its state and its session with the data centre.

Card steps go down to the SAM's reader actor; DC calls run in this actor's
thread, so a slow DC holds up only this SAM, never a reader that other cards
share. Several stations may use one cloud SAM: they all see its state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from actors.base import ActorHandle, BrokerActor, Handlers, Supervised
from actors.departures import CardLeftError, Departures, HeldCard, unless_departed
from actors.messages import Message
from actors.reader import CardSeen, Converse, Probe, SetClock
from broker import errors
from broker.cards import commands as cmd
from broker.cards.auth import mutual_authenticate
from broker.cards.hc import HealthCardSession
from broker.cards.hpc import HpcSession
from broker.cards.records import CardInfo, Environment, SamIdentity
from broker.cards.sam import SamSession
from broker.cards.session import CardSession
from broker.codes import Code
from broker.dc.authentication import authenticate_sam
from broker.dc.client import DcClient
from broker.dc.records import DcSession
from broker.state import SamStatus, SamType
from broker.transport.base import CardConnection

T = TypeVar("T")
SamPublisher = Callable[[SamType, SamStatus], None]


@dataclass(frozen=True)
class SamView:
    """A SAM's state as the station needs it."""

    sam_type: SamType
    status: SamStatus
    identity: SamIdentity | None
    session: str | None  # the DC session token while verified


class SamCell:
    """The SAM's latest view, readable without asking the actor (it may be busy with the DC).

    Stations sharing a cloud SAM read it instead of queueing behind another
    station's slow verification.
    """

    def __init__(self) -> None:
        self._view: SamView | None = None
        self._lock = threading.Lock()

    def get(self) -> SamView | None:
        """The latest view, or None before the SAM was first seen."""
        with self._lock:
            return self._view

    def put(self, view: SamView) -> None:
        """Publish a new view."""
        with self._lock:
            self._view = view


@dataclass(frozen=True, kw_only=True)
class GetSam(Message[SamView]):
    """The SAM's state (probing the slot if nothing was seen yet)."""


@dataclass(frozen=True, kw_only=True)
class SamCardSeen(Message[None]):
    """The reader saw the SAM arrive or leave (told)."""

    seen: CardSeen


@dataclass(frozen=True, kw_only=True)
class VerifySam(Message[SamView]):
    """Authenticate with the DC (mode 1 → 2); ``auto``: only if not verified already."""

    auto: bool = False


@dataclass(frozen=True, kw_only=True)
class LogoutSam(Message[SamView]):
    """End the DC session (mode 2 → 1)."""


@dataclass(frozen=True, kw_only=True)
class SamSign(Message[bytes]):
    """The SAM's RSA signature over ``data``."""

    data: bytes


@dataclass(frozen=True, kw_only=True)
class AuthenticateCard(Message[None]):
    """Mutually authenticate the HC or HPC in ``reader``'s ``slot`` (family HC or HPC)."""

    reader: ActorHandle
    slot: str
    family: int
    card_id: str
    environment: Environment | None


class SamActor(BrokerActor):
    """One SAM."""

    crash_code = Code.SAM_MODE1_FAILED

    def __init__(
        self,
        supervised: Supervised,
        sam_type: SamType,
        reader: ActorHandle,
        slot: str,
        dc: DcClient,
        publish: SamPublisher,
        departures: Departures,
        cell: SamCell | None = None,
    ) -> None:
        super().__init__(supervised)
        self.sam_type = sam_type
        self._reader = reader
        self._slot = slot
        self._dc = dc
        self._departures = departures
        self._publish = publish
        self._cell = cell or SamCell()
        self._status = SamStatus.NONE
        self._identity: SamIdentity | None = None
        self._session: DcSession | None = None
        self._generation: int | None = None  # the arrival of the SAM card we talk to

    def handlers(self) -> Handlers:
        """Each message this actor takes, and its handler."""
        return {
            GetSam: self.on_get_sam,
            SamCardSeen: self.on_sam_card_seen,
            VerifySam: self.on_verify_sam,
            LogoutSam: self.on_logout_sam,
            SamSign: self.on_sam_sign,
            AuthenticateCard: self.on_authenticate_card,
        }

    def on_start(self) -> None:
        """A (re)started SAM actor is unverified: say so."""
        self._cell.put(self._view())
        self._publish(self.sam_type, self._status)

    def on_get_sam(self, message: GetSam) -> SamView:
        """The SAM's state, probing once if no SAM was seen."""
        if self._status is SamStatus.NONE:
            self._probe(message)
        if self._status is not SamStatus.NONE:
            self._read_identity(message)
        return self._view()

    def on_sam_card_seen(self, message: SamCardSeen) -> None:
        """A SAM arrived (mode 1) or left (mode 0)."""
        seen = message.seen
        self._generation = seen.generation
        if seen.present and seen.identity.kind == "SAM":
            self._identity = None  # read again: it may be another SAM
            self._session = None
            self._set(SamStatus.PRESENT)
        elif not seen.present:
            self._identity, self._session = None, None
            self._set(SamStatus.NONE)

    def on_verify_sam(self, message: VerifySam) -> SamView:
        """DC authentication; contract refusals (1302–1304) and DC failures (17xx) pass through."""
        if message.auto and self._status is SamStatus.VERIFIED:
            return self._view()  # another station's request verified it meanwhile
        self._require_present(message)
        remote = _RemoteSam(self, message)
        try:
            session = authenticate_sam(_WatchedDc(self), remote)
        except (errors.ApduError, errors.TransportError) as exc:
            raise errors.BrokerError(str(exc), code=Code.SAM_MODE2_FAILED) from exc
        if self.sam_type is SamType.PHYSICAL:
            # The DC's time sets the serial reader's clock (manual, 讀卡機時間).
            self._reader.ask(message.child(SetClock(roc=session.server_time)))
        self._session = session
        self._set(SamStatus.VERIFIED, force=True)
        self.log.info("sam.verified", sam_id=self._identity.sam_id if self._identity else None)
        return self._view()

    def on_logout_sam(self, message: LogoutSam) -> SamView:
        """End the DC session; the SAM stays present."""
        session, self._session = self._session, None
        self._cell.put(self._view())
        if session is not None:
            try:
                self.at_dc(lambda: self._dc.logout(session.token))
            except errors.BrokerError as exc:  # the session ends here either way
                self.log.warning("sam.logout_not_confirmed", error=str(exc))
        if self._status is SamStatus.VERIFIED:
            self._set(SamStatus.PRESENT)
        return self._view()

    def on_sam_sign(self, message: SamSign) -> bytes:
        """Sign with the SAM's key."""
        self._require_verified()
        return self._converse(message, lambda sam: sam.sign(message.data))

    def on_authenticate_card(self, message: AuthenticateCard) -> None:
        """The four-step mutual authentication, across the card's reader and ours."""
        self._require_verified()
        failure = (
            Code.HC_MODE2_FAILED if message.family == cmd.SAM_CARD_HC else Code.HPC_MODE2_FAILED
        )
        identity = self._read_identity(message)
        environment = message.environment or identity.environment
        info = CardInfo("", message.card_id, environment)
        card = _RemoteCard(message)
        mutual_authenticate(card, info, _RemoteSam(self, message), message.family, failure)
        self.log.info("sam.card_authenticated", card_id=message.card_id, family=message.family)

    # --- helpers -------------------------------------------------------------

    def _converse(self, message: Message[Any], run: Callable[[SamSession], T]) -> T:
        def on_card(connection: CardConnection) -> T:
            session = SamSession(connection)
            session.select()
            return run(session)

        converse = Converse(
            slot=self._slot, run=on_card, generation=self._generation, owner=self.activity.own
        )
        result: T = self._reader.ask(message.child(converse))
        return result

    def _probe(self, message: Message[Any]) -> None:
        seen: CardSeen = self._reader.ask(message.child(Probe(slot=self._slot)))
        self._generation = seen.generation
        if seen.present and seen.identity.kind == "SAM":
            self._set(SamStatus.PRESENT)

    def _read_identity(self, message: Message[Any]) -> SamIdentity:
        if self._identity is None:
            self._identity = self._converse(message, lambda sam: sam.identity())
            self._cell.put(self._view())
        return self._identity

    def _at_dc_for_sam(self, work: Callable[[], T]) -> T:
        """A DC call in the SAM's authentication: a physical SAM pulled meanwhile ends it at
        once (1300), and the SAM is gone from the state (nothing half-verified stays)."""
        if self.sam_type is not SamType.PHYSICAL or self._generation is None:
            return self.at_dc(work)
        card = HeldCard(self._reader.name, self._slot, self._generation)
        try:
            return self.at_dc(lambda: unless_departed(self._departures, card, work))
        except CardLeftError as exc:
            self._identity, self._session = None, None
            self._set(SamStatus.NONE)
            raise errors.BrokerError(
                "the SAM left its slot while the data centre was asked", code=Code.SAM_MODE1_FAILED
            ) from exc

    def _require_present(self, message: Message[Any]) -> None:
        if self._status is SamStatus.NONE:
            self._probe(message)
        if self._status is SamStatus.NONE:
            raise errors.BrokerError("no SAM in its slot", code=Code.SAM_MODE1_FAILED)
        self._read_identity(message)

    def _require_verified(self) -> None:
        if self._status is not SamStatus.VERIFIED:
            raise errors.BrokerError("the SAM is not verified", code=Code.SAM_MODE2_FAILED)

    def _set(self, status: SamStatus, *, force: bool = False) -> None:
        changed = status is not self._status
        self._status = status
        if changed or force:
            self._cell.put(self._view())
        if changed:
            self._publish(self.sam_type, status)

    def _view(self) -> SamView:
        token = self._session.token if self._session is not None else None
        return SamView(self.sam_type, self._status, self._identity, token)


class _RemoteSam:
    """The SAM's verbs, each one conversation through the SAM's reader."""

    def __init__(self, actor: SamActor, message: Message[Any]) -> None:
        self._actor = actor
        self._message = message

    def identity(self) -> SamIdentity:
        return self._actor._read_identity(self._message)

    def dc_challenge(self) -> bytes:
        return self._actor._converse(self._message, lambda sam: sam.dc_challenge())

    def answer_dc(self, dc_random: bytes) -> bytes:
        return self._actor._converse(self._message, lambda sam: sam.answer_dc(dc_random))

    def accept_grant(self, grant: bytes) -> None:
        self._actor._converse(self._message, lambda sam: sam.accept_grant(grant))

    def authenticate_card(self, family: int, card_id: str, card_random: bytes) -> bytes:
        return self._actor._converse(
            self._message, lambda sam: sam.authenticate_card(family, card_id, card_random)
        )

    def check_card(self, family: int, card_cryptogram: bytes) -> None:
        self._actor._converse(self._message, lambda sam: sam.check_card(family, card_cryptogram))


class _WatchedDc:
    """The DC's side of SAM authentication, each call through ``_at_dc_for_sam``."""

    def __init__(self, actor: SamActor) -> None:
        self._actor = actor

    def sam_challenge(self, sam_id: str) -> bytes:
        dc = self._actor._dc
        return self._actor._at_dc_for_sam(lambda: dc.sam_challenge(sam_id))

    def sam_authenticate(
        self, sam_id: str, dc_random: bytes, sam_random: bytes, signature: bytes
    ) -> DcSession:
        dc = self._actor._dc
        return self._actor._at_dc_for_sam(
            lambda: dc.sam_authenticate(sam_id, dc_random, sam_random, signature)
        )


class _RemoteCard:
    """The card's verbs in mutual authentication, through the card's reader actor."""

    def __init__(self, message: AuthenticateCard) -> None:
        self._message = message

    def _session(self, connection: CardConnection) -> CardSession:
        if self._message.family == cmd.SAM_CARD_HC:
            return HealthCardSession(connection)
        return HpcSession(connection)

    def get_challenge(self) -> bytes:
        def run(connection: CardConnection) -> bytes:
            session = self._session(connection)
            session.select()
            return session.get_challenge()

        return self._ask(run)

    def external_authenticate(self, data: bytes) -> bytes:
        return self._ask(lambda connection: self._session(connection).external_authenticate(data))

    def _ask(self, run: Callable[[CardConnection], bytes]) -> bytes:
        message = self._message
        result: bytes = message.reader.ask(message.child(Converse(slot=message.slot, run=run)))
        return result
