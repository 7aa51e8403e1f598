"""The data centre's logic, as the kit simulates it (docs/dc-protocol.md).

Pure and thread-safe: no HTTP here (``dcsim`` serves it). Time comes from an
injectable clock, so tests move it instead of waiting. Every refusal is a
``DcRefusedError`` carrying the manual's status code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from broker import roc
from broker.codes import Code
from broker.dc.records import VhcCard
from broker.errors import BrokerError
from nhi_kit.emulators import dc_grant
from nhi_kit.emulators.cloud_sam_files import kit_cloud_sam
from nhi_kit.emulators.dc.hca import HcaHolder, HcaTrust, verify_mobile_assertion
from nhi_kit.emulators.dc.tokens import TokenKeys, TokenPayload, UseCounter, issue_token, open_token
from nhi_kit.emulators.keys import ec_key, rsa_key
from nhi_kit.emulators.people import HEALTH_CARDS, SAMS

TAIWAN = dt.timezone(dt.timedelta(hours=8))
Clock = Callable[[], float]


class DcRefusedError(BrokerError):
    """The data centre refused a request; ``code`` says why."""


class Contract(Enum):
    """A hospital's contract as the DC sees it through its SAM."""

    VALID = "valid"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


CONTRACT_CODES = {
    Contract.EXPIRED: Code.CONTRACT_EXPIRED,
    Contract.SUSPENDED: Code.HOSPITAL_SUSPENDED,
    Contract.REVOKED: Code.SAM_REVOKED,
}


@dataclass
class SamAccount:
    """What the DC knows of one SAM."""

    sam_id: str
    hospital_id: str
    public_key: rsa.RSAPublicKey
    contract: Contract = Contract.VALID


@dataclass(frozen=True)
class DcSettings:
    """Lifetimes, in seconds, and how often one QR token may be verified."""

    session_seconds: float = 8 * 3600
    challenge_seconds: float = 60
    hca_challenge_seconds: float = 60
    transfer_seconds: float = 600
    # A clinic system verifies one token at registration, record writing and a refund;
    # beyond that: 1525 (虛擬卡 Token 已超過驗證次數).
    vhc_verifications: int = 3


@dataclass(frozen=True)
class Session:
    """An authenticated SAM's session."""

    token: str
    sam_id: str
    hospital_id: str
    expires_at: float


@dataclass(frozen=True)
class SessionGrant:
    """What a successful SAM authentication returns."""

    session: Session
    grant: bytes
    server_time: str


@dataclass
class _VirtualCard:
    card: VhcCard
    hospital_id: str
    device_id: str
    active: bool = True


@dataclass
class _Transfer:
    vhc_id: str
    hospital_id: str
    from_device: str
    expires_at: float
    redeemed_by: str | None = None


@dataclass
class _State:
    challenges: dict[bytes, tuple[str, float]] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    hca_challenges: dict[bytes, tuple[str, float]] = field(default_factory=dict)
    virtual_cards: dict[str, _VirtualCard] = field(default_factory=dict)
    transfers: dict[str, _Transfer] = field(default_factory=dict)


class DataCentre:
    """SAM authentication, sessions, virtual cards, HCA checks, cloud-SAM files."""

    def __init__(
        self,
        accounts: list[SamAccount],
        *,
        grant_key: ec.EllipticCurvePrivateKey,
        token_keys: TokenKeys,
        hca_trust: HcaTrust,
        settings: DcSettings | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._accounts = {a.sam_id: a for a in accounts}
        self._grant_key = grant_key
        self._token_keys = token_keys
        self._uses = UseCounter()
        self.hca_trust = hca_trust
        self.settings = settings or DcSettings()
        self.clock = clock
        self._state = _State()
        self._lock = threading.Lock()

    @classmethod
    def kit(cls, *, settings: DcSettings | None = None, clock: Clock = time.time) -> DataCentre:
        """The DC of the virtual card kit: every kit SAM, the kit's keys and CAs."""
        accounts = [
            SamAccount(s.sam_id, s.hospital_id, rsa_key(f"sam-{s.sam_id}").public_key())
            for s in SAMS
        ]
        for account in accounts:
            if account.sam_id == "901000000054":  # the kit's expired-contract clinic
                account.contract = Contract.EXPIRED
        return cls(
            accounts,
            grant_key=ec_key("dc-grant"),
            token_keys=TokenKeys.kit(),
            hca_trust=HcaTrust.kit(),
            settings=settings,
            clock=clock,
        )

    # --- time ---------------------------------------------------------------

    def server_time(self) -> str:
        """The DC's clock, Taiwan time, ROC ``YYYMMDDHHMMSS``."""
        return roc.format_datetime(dt.datetime.fromtimestamp(self.clock(), TAIWAN))

    # --- SAM authentication -----------------------------------------------------

    def sam_challenge(self, sam_id: str) -> bytes:
        """Step 1: a random for the SAM to sign."""
        self._account(sam_id)
        dc_random = dc_grant.new_dc_random()
        with self._lock:
            self._drop_expired()
            expiry = self.clock() + self.settings.challenge_seconds
            self._state.challenges[dc_random] = (sam_id, expiry)
        return dc_random

    def sam_authenticate(
        self, sam_id: str, dc_random: bytes, sam_random: bytes, signature: bytes
    ) -> SessionGrant:
        """Step 2: check the SAM's answer and its contract; open a session."""
        account = self._account(sam_id)
        with self._lock:
            issued = self._state.challenges.pop(dc_random, None)
        if issued is None or issued[0] != sam_id or issued[1] < self.clock():
            raise DcRefusedError("unknown or expired DC challenge", code=Code.SAM_MODE2_FAILED)
        if not dc_grant.sam_answer_is_valid(
            account.public_key, sam_id, dc_random, sam_random, signature
        ):
            raise DcRefusedError("the SAM's signature does not verify", code=Code.SAM_MODE2_FAILED)
        _check_contract(account)
        session = Session(
            secrets.token_urlsafe(24),
            sam_id,
            account.hospital_id,
            self.clock() + self.settings.session_seconds,
        )
        with self._lock:
            self._state.sessions[session.token] = session
        grant = dc_grant.grant(sam_id, sam_random, key=self._grant_key)
        return SessionGrant(session, grant, self.server_time())

    def session(self, token: str) -> Session:
        """The live session for ``token``; 1703 if unknown or lapsed, contract codes."""
        with self._lock:
            session = self._state.sessions.get(token)
            if session is not None and session.expires_at < self.clock():
                del self._state.sessions[token]
                session = None
        if session is None:
            raise DcRefusedError("no such session, or it lapsed", code=Code.DC_SESSION_EXPIRED)
        _check_contract(self._account(session.sam_id))
        return session

    def logout(self, token: str) -> None:
        """End a session (no error if it is already gone)."""
        with self._lock:
            self._state.sessions.pop(token, None)

    def set_contract(self, sam_id: str, contract: Contract) -> None:
        """Change a SAM's contract (sim control)."""
        self._account(sam_id).contract = contract

    def issue_cloud_sam(self, sam_id: str) -> tuple[str, bytes]:
        """The ``.SAM`` file of one of the kit's cloud SAMs."""
        self._account(sam_id)
        return kit_cloud_sam(sam_id)

    # --- virtual health cards ---------------------------------------------------

    def issue_token(self, card_id: str) -> str:
        """A fresh QR token for a kit person (what the person's phone shows)."""
        person = next((p for p in HEALTH_CARDS if p.card_id == card_id), None)
        if person is None:
            raise DcRefusedError(f"no virtual card for {card_id}", code=Code.INVALID_PARAMETER)
        return issue_token(person, self._token_keys, self.clock())

    def vhc_read(self, session_token: str, token: str) -> VhcCard:
        """The token's card data; the token stays usable."""
        self.session(session_token)
        return card_of(open_token(token, self._token_keys, self.clock()))

    def vhc_verify(self, session_token: str, token: str, device_id: str) -> tuple[str, VhcCard]:
        """Verify the token (one use of it) and bind the card to this device."""
        session = self.session(session_token)
        payload = open_token(token, self._token_keys, self.clock())
        self._uses.consume(payload, self.settings.vhc_verifications)
        return self._bind(card_of(payload), session.hospital_id, device_id)

    def vhc_export(self, session_token: str, vhc_id: str, device_id: str) -> str:
        """Hand the card over: a transfer code; the card leaves this device."""
        session = self.session(session_token)
        with self._lock:
            card = self._state.virtual_cards.get(vhc_id)
            if card is None or not card.active or card.device_id != device_id:
                raise DcRefusedError("the card moved or lapsed", code=Code.VHC_TRANSFER_INVALID)
            card.active = False
            code = secrets.token_hex(4).upper()
            self._state.transfers[code] = _Transfer(
                vhc_id,
                session.hospital_id,
                device_id,
                self.clock() + self.settings.transfer_seconds,
            )
        return code

    def vhc_import(self, session_token: str, code: str, device_id: str) -> tuple[str, VhcCard]:
        """Take over a card exported by another device of the same hospital."""
        session = self.session(session_token)
        with self._lock:
            transfer = self._state.transfers.get(code.strip().upper())
            if transfer is None:
                raise DcRefusedError("unknown transfer code", code=Code.VHC_TRANSFER_NOT_FOUND)
            if transfer.redeemed_by is not None and transfer.redeemed_by != device_id:
                raise DcRefusedError("taken by another device", code=Code.VHC_TRANSFER_OTHER_DEVICE)
            if transfer.redeemed_by is not None or transfer.expires_at < self.clock():
                raise DcRefusedError("already moved or lapsed", code=Code.VHC_TRANSFER_INVALID)
            if transfer.hospital_id != session.hospital_id:
                raise DcRefusedError("another hospital", code=Code.VHC_TRANSFER_OTHER_HOSPITAL)
            transfer.redeemed_by = device_id
            card = self._state.virtual_cards[transfer.vhc_id].card
        return self._bind(card, session.hospital_id, device_id)

    def vhc_ids(self, card_id: str) -> list[str]:
        """The virtual-card ids bound for ``card_id``: what an HC signature's proof may hold."""
        with self._lock:
            return [i for i, v in self._state.virtual_cards.items() if v.card.card_id == card_id]

    def _bind(self, card: VhcCard, hospital_id: str, device_id: str) -> tuple[str, VhcCard]:
        vhc_id = secrets.token_hex(8)
        with self._lock:
            self._state.virtual_cards[vhc_id] = _VirtualCard(card, hospital_id, device_id)
        return vhc_id, card

    # --- HCA -------------------------------------------------------------------

    def hca_challenge(self, session_token: str) -> bytes:
        """A random for an HPC to sign, valid ``hca_challenge_seconds``."""
        self.session(session_token)
        challenge = secrets.token_bytes(32)
        with self._lock:
            expiry = self.clock() + self.settings.hca_challenge_seconds
            self._state.hca_challenges[challenge] = (session_token, expiry)
        return challenge

    def hca_verify(
        self, session_token: str, certificate: bytes, challenge: bytes, signature: bytes
    ) -> HcaHolder:
        """Check an HPC's certificate and its signature over our challenge (1420–1424)."""
        self.session(session_token)
        with self._lock:
            issued = self._state.hca_challenges.pop(challenge, None)
        if issued is None or issued[0] != session_token:
            raise DcRefusedError("not a challenge of this session", code=Code.HCA_BAD_SIGNATURE)
        if issued[1] < self.clock():
            raise DcRefusedError("the signature came too late", code=Code.HCA_SIGNING_TIMEOUT)
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        return self.hca_trust.verify_signature(certificate, challenge, signature, now)

    def hca_mobile(self, session_token: str, assertion: str) -> HcaHolder:
        """Check a mobile HCA assertion for the session's hospital (1430, 1431)."""
        session = self.session(session_token)
        return verify_mobile_assertion(assertion, self.hca_trust, session.hospital_id, self.clock())

    # --- health card marks ----------------------------------------------------

    def hc_marks(self, session_token: str, card_id: str) -> bytes:
        """What the DC wants written into a health card's marks file today."""
        self.session(session_token)
        if not (card_id.isascii() and card_id.isdigit() and len(card_id) == 12):
            raise DcRefusedError("cardId must be 12 digits", code=Code.INVALID_PARAMETER)
        day = self.server_time()[:7]
        return day.encode() + hashlib.sha256(f"{card_id}|{day}".encode()).digest()[:9]

    # --- helpers -------------------------------------------------------------------

    def _account(self, sam_id: str) -> SamAccount:
        account = self._accounts.get(sam_id)
        if account is None:
            raise DcRefusedError(f"unknown SAM {sam_id}", code=Code.SAM_MODE2_FAILED)
        return account

    def _drop_expired(self) -> None:
        now = self.clock()
        for key in [k for k, (_, expiry) in self._state.challenges.items() if expiry < now]:
            del self._state.challenges[key]
        self._uses.prune(now)


def card_of(payload: TokenPayload) -> VhcCard:
    """The card data a token carries."""
    return VhcCard(
        payload.card_id,
        payload.id_no,
        payload.name,
        payload.birthday,
        payload.sex,
        payload.identity_status,
        payload.has_pin,
        payload.pin_verified,
    )


def _check_contract(account: SamAccount) -> None:
    code = CONTRACT_CODES.get(account.contract)
    if code is not None:
        raise DcRefusedError(f"SAM {account.sam_id}: contract {account.contract.value}", code=code)
