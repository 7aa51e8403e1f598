"""What every endpoint function works with: the store, the clock, the cloud's own signature."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from broker import roc
from nhi_kit.cloud.codes import CloudCode, CloudRefusedError
from nhi_kit.cloud.signatures import Signed, canonical, text
from nhi_kit.cloud.store import CloudStore

TAIWAN = dt.timezone(dt.timedelta(hours=8))
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)  # RFC 6979: same item, same answer
Clock = Callable[[], float]
JsonDict = dict[str, Any]


@cache
def cloud_key() -> ec.EllipticCurvePrivateKey:
    """The simulated cloud's signing key, the same in every kit process (derived from a label)."""
    seed = int.from_bytes(hashlib.sha256(b"nhi-broker kit cloud signing key").digest(), "big")
    return ec.derive_private_key(seed % (P256_ORDER - 1) + 1, ec.SECP256R1())


@dataclass
class World:
    """The state one call reads and changes."""

    store: CloudStore
    clock: Clock

    def now(self) -> dt.datetime:
        """Taiwan time, naive (ROC dates are local)."""
        return dt.datetime.fromtimestamp(self.clock(), TAIWAN).replace(tzinfo=None)

    def now_roc(self) -> str:
        """Now as ROC ``YYYMMDDHHMMSS``."""
        return roc.format_datetime(self.now())

    def today(self) -> str:
        """Today as ROC ``YYYMMDD``."""
        return roc.format_date(self.now().date())


def sign(fields: dict[str, str]) -> bytes:
    """The cloud's ECDSA P-256 signature (DER) over the canonical form of ``fields``."""
    return cloud_key().sign(canonical(fields), _ECDSA)


def b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")


def card_id(signed: Signed) -> str:
    """The health card a signature covers (HC and HpcHc signatures have one)."""
    assert signed.hc is not None  # the endpoint table asks for an HC signature
    return signed.hc.card_id


def visit_of(world: World, signed: Signed, body: JsonDict) -> JsonDict:
    """The visit ``treatmentDateTime`` names, of this card at this hospital, not rolled back."""
    when = text(body, "treatmentDateTime")
    visit = next(
        (
            v
            for v in world.store.visits(card_id(signed))
            if v["treatmentDateTime"] == when and v["hospitalId"] == signed.hospital_id
        ),
        None,
    )
    if visit is None:
        raise CloudRefusedError(CloudCode.NO_SUCH_VISIT, f"no visit at {when[:13]!r} here")
    if visit["rolledBack"]:
        raise CloudRefusedError(CloudCode.VISIT_ROLLED_BACK, f"the visit at {when} was rolled back")
    return visit


def field_text(body: JsonDict, name: str, default: str = "") -> str:
    """An optional field as text (numbers become their digits); ``default`` when absent."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise CloudRefusedError(CloudCode.BAD_REQUEST, f"{name} must be text or a number")
    return str(value)
