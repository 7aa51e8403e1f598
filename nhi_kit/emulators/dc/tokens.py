"""The DC simulator's virtual health card tokens: issue, open, count uses.

A token (see ``broker.vhc`` for its text format) carries a JSON payload
(sorted keys, compact, UTF-8) encrypted with AES-256-GCM under a fresh
12-byte nonce with the associated data ``nhi-vhc-token/1``; the signature
is ECDSA P-256 / SHA-256 (DER) over the ASCII of ``nonce "." ciphertext``.
Sign-after-encrypt lets the DC refuse a forged token (1523) before it
decrypts anything.

``open_token`` checks, in this order: format (1520), signature (1523),
content (1522), the virtual card's own expiry (1524), then the QR code's
window (1521). The card's expiry comes before the window because it is the
deeper fault: a fresh QR code cannot cure it, the holder must re-apply.
Counting verifications (1525) is state, kept by the simulator in a
``UseCounter``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import uuid
from base64 import b64encode
from dataclasses import asdict, dataclass, field
from typing import Any, get_type_hints

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.codes import Code
from broker.vhc import NONCE_LENGTH, TokenParts, VhcTokenError, check_token_format
from nhi_kit.emulators.keys import ec_key
from nhi_kit.emulators.people import HcPerson

VERSION = 1
AAD = b"nhi-vhc-token/1"
QR_TTL = 300  # seconds a QR code stays usable (news reports: about 5 minutes)
CARD_TTL = 30 * 86400
MAX_USES = 10  # the most a token allows; the DC's own setting is lower (DcSettings)
KEY_LENGTH = 32  # AES-256


@dataclass(frozen=True, kw_only=True)
class TokenPayload:
    """What a token says about its holder; times are epoch seconds."""

    v: int = VERSION
    tid: str
    card_id: str
    id_no: str
    name: str
    birthday: str  # ROC YYYMMDD
    sex: str
    identity_status: str
    has_pin: bool
    pin_verified: bool
    iat: int
    exp: int
    card_exp: int
    max_uses: int


FIELD_TYPES: dict[str, type] = get_type_hints(TokenPayload)
TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean"}


@dataclass(frozen=True)
class TokenKeys:
    """The DC's token keys: AES-256 for content, EC P-256 for signatures."""

    content_key: bytes = field(repr=False)
    signing_key: ec.EllipticCurvePrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        """Refuse a content key of the wrong size or a signing key off P-256."""
        if len(self.content_key) != KEY_LENGTH:
            raise ValueError(f"content key must be {KEY_LENGTH} bytes")
        if self.signing_key.curve.name != ec.SECP256R1.name:
            raise ValueError("signing key must be on P-256")

    @classmethod
    def kit(cls) -> TokenKeys:
        """The virtual card kit's fixed token keys."""
        content_key = hashlib.sha256(b"nhi-broker kit vhc token key").digest()
        return cls(content_key, ec_key("dc-token"))


def issue_token(
    person: HcPerson,
    keys: TokenKeys,
    now: float,
    *,
    ttl: int = QR_TTL,
    card_ttl: int = CARD_TTL,
    max_uses: int = MAX_USES,
    pin_verified: bool = True,
) -> str:
    """A fresh token for ``person``; ``pin_verified`` counts only if the card has a PIN."""
    iat = math.floor(now)
    payload = TokenPayload(
        tid=uuid.uuid4().hex,
        card_id=person.card_id,
        id_no=person.id_no,
        name=person.name,
        birthday=person.birthday,
        sex=person.sex,
        identity_status=person.identity_status,
        has_pin=person.pin is not None,
        pin_verified=pin_verified and person.pin is not None,
        iat=iat,
        exp=iat + ttl,
        card_exp=iat + card_ttl,
        max_uses=max_uses,
    )
    return seal(payload_bytes(payload), keys)


def payload_bytes(payload: TokenPayload) -> bytes:
    """The payload's JSON: sorted keys, compact, UTF-8."""
    text = json.dumps(asdict(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def seal(plaintext: bytes, keys: TokenKeys) -> str:
    """Encrypt then sign any plaintext into a token (tests use it to sign garbage)."""
    # A random 96-bit nonce per token: GCM nonces must never repeat under one key.
    nonce = os.urandom(NONCE_LENGTH)
    ciphertext = AESGCM(keys.content_key).encrypt(nonce, plaintext, AAD)
    signed_part = f"{_b64(nonce)}.{_b64(ciphertext)}"
    signature = keys.signing_key.sign(signed_part.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    return f"{signed_part}.{_b64(signature)}"


def open_token(token: str, keys: TokenKeys, now: float) -> TokenPayload:
    """Check and decrypt a token, or raise ``VhcTokenError`` with its code."""
    parts = check_token_format(token)
    _check_signature(parts, keys)
    payload = _parse_payload(_decrypt(parts, keys))
    if now > payload.card_exp:
        raise VhcTokenError("the virtual card has expired", code=Code.VHC_TOKEN_EXPIRED)
    if now > payload.exp:
        raise VhcTokenError("the QR code's time window has passed", code=Code.VHC_TOKEN_TIMED_OUT)
    return payload


def _b64(data: bytes) -> str:
    return b64encode(data).decode("ascii")


def _check_signature(parts: TokenParts, keys: TokenKeys) -> None:
    """Raise 1523 unless the DC's key signed the token."""
    try:
        keys.signing_key.public_key().verify(
            parts.signature, parts.signed_part, ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature as exc:
        raise VhcTokenError("signature does not verify", code=Code.VHC_TOKEN_BAD_SIGNATURE) from exc


def _decrypt(parts: TokenParts, keys: TokenKeys) -> bytes:
    """The plaintext; 1522 when a signed token does not decrypt."""
    try:
        return AESGCM(keys.content_key).decrypt(parts.nonce, parts.ciphertext, AAD)
    except InvalidTag as exc:
        raise _malformed("content does not decrypt") from exc


def _malformed(detail: str) -> VhcTokenError:
    return VhcTokenError(detail, code=Code.VHC_TOKEN_MALFORMED)


def _parse_payload(plaintext: bytes) -> TokenPayload:
    """The payload from its JSON; 1522 for anything but exactly the v1 fields."""
    try:
        data = json.loads(plaintext.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise _malformed("content is not JSON") from exc
    if not isinstance(data, dict):
        raise _malformed("content is not a JSON object")
    expected = set(TokenPayload.__dataclass_fields__)
    if set(data) != expected:
        missing, extra = sorted(expected - set(data)), len(set(data) - expected)
        raise _malformed(f"content fields differ: missing {missing}, {extra} unexpected")
    if _typed(data, "v") != VERSION:
        raise _malformed("unsupported content version")
    payload = TokenPayload(**{key: _typed(data, key) for key in FIELD_TYPES})
    if payload.max_uses < 1:
        raise _malformed("max_uses must be at least 1")
    return payload


def _typed(data: dict[str, Any], key: str) -> Any:
    """``data[key]``, which must have the payload field's JSON type; else 1522."""
    value, kind = data[key], FIELD_TYPES[key]
    # The exact type: bool is an int in Python, but JSON true is not a number.
    if type(value) is not kind:
        raise _malformed(f"{key} is not {TYPE_NAMES[kind]}")
    return value


class UseCounter:
    """How many times each token was verified; thread-safe."""

    def __init__(self) -> None:
        """Start with no uses."""
        self._lock = threading.Lock()
        self._uses: dict[str, int] = {}
        self._exp: dict[str, int] = {}

    def consume(self, payload: TokenPayload, limit: int | None = None) -> None:
        """Count one verification, or raise 1525 once the token's uses (and ``limit``) are spent."""
        allowed = payload.max_uses if limit is None else min(limit, payload.max_uses)
        with self._lock:
            used = self._uses.get(payload.tid, 0)
            if used >= allowed:
                raise VhcTokenError(
                    f"token already verified {used} times", code=Code.VHC_TOKEN_OVERUSED
                )
            self._uses[payload.tid] = used + 1
            self._exp[payload.tid] = payload.exp

    def uses(self, tid: str) -> int:
        """Verifications counted so far for a token id."""
        with self._lock:
            return self._uses.get(tid, 0)

    def prune(self, now: float) -> int:
        """Forget tokens whose QR window has passed (they can no longer open); how many."""
        with self._lock:
            gone = [tid for tid, exp in self._exp.items() if now > exp]
            for tid in gone:
                del self._uses[tid], self._exp[tid]
            return len(gone)
