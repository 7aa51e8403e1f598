"""The DC simulator's HCA checks: card certificates, signatures, mobile HCA assertions.

A certificate is checked in this order: parse (1420), a trusted chain to a
root (1423), validity of the leaf and every CA on that chain at ``now``
(1422), the DC's revocation list (1424). Trust comes first because an
untrusted certificate's dates and serial mean nothing; a revoked
certificate that has also expired reports 1422, as a CRL drops expired
entries.

A mobile HCA assertion (醫事人員行動憑證; the real protocol is not public,
this one is ours) is ``B64(payload_json) "." B64(signature)``: standard
padded base64; the payload is ``{"v": 1, "cardId", "idNo", "name",
"hospitalId", "iat", "exp", "certificate": B64(DER)}``; the signature is RSA
PKCS#1 v1.5 / SHA-256 by the card's key over the ASCII of the first part.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from broker.codes import Code
from broker.dc.records import HcaHolder
from broker.errors import BrokerError
from nhi_kit.emulators import pki
from nhi_kit.emulators.keys import rsa_key
from nhi_kit.emulators.people import HPCS, HpcPerson

__all__ = [
    "HcaError",
    "HcaHolder",  # the record the DC protocol shares; ``id_no`` is "" unless an assertion said it
    "HcaTrust",
    "kit_certificate",
    "make_mobile_assertion",
    "seal_mobile_assertion",
    "verify_mobile_assertion",
]

MAX_CHAIN_DEPTH = 4  # CAs between a card certificate and its root; the kit has one
MOBILE_TTL = 300
MOBILE_VERSION = 1
MAX_ASSERTION_LENGTH = 16384  # a 2048-bit certificate and signature take about 2.5 KB
CLOCK_SKEW = 60  # seconds an assertion's iat may lie ahead of the DC's clock


class HcaError(BrokerError):
    """An HCA certificate, signature or mobile assertion was refused."""

    default_code = Code.HCA_BAD_SIGNATURE


class HcaTrust:
    """The DC's trust store: roots, intermediate CAs and revoked card serials."""

    def __init__(
        self,
        roots: list[x509.Certificate],
        intermediates: list[x509.Certificate],
        revoked_serials: set[int],
    ) -> None:
        """Trust ``roots``; chains may pass through ``intermediates``."""
        self._roots = tuple(roots)
        self._intermediates = tuple(intermediates)
        self._revoked = set(revoked_serials)
        self._lock = threading.Lock()

    @classmethod
    def kit(cls, revoked_card_ids: Iterable[str] | None = None) -> HcaTrust:
        """The kit's trust: its root and HCA; revoked as given, by default the kit's list."""
        if revoked_card_ids is None:
            revoked_card_ids = [p.card_id for p in HPCS if p.certificate == "revoked"]
        people = {p.card_id: p for p in HPCS}
        unknown = sorted(set(revoked_card_ids) - set(people))
        if unknown:
            raise ValueError(f"not kit HPCs: {unknown}")
        serials = {kit_certificate(people[card_id]).serial_number for card_id in revoked_card_ids}
        return cls([pki.root_certificate()], [pki.hca_certificate()], serials)

    def revoke(self, serial: int) -> None:
        """Add a card certificate's serial to the revocation list."""
        with self._lock:
            self._revoked.add(serial)

    def is_revoked(self, serial: int) -> bool:
        """Whether the revocation list holds ``serial``."""
        with self._lock:
            return serial in self._revoked

    def check_certificate(self, cert_der: bytes, now: dt.datetime) -> HcaHolder:
        """The holder of a trusted, currently valid, unrevoked card certificate."""
        return self._check(_parse(cert_der), now)

    def verify_signature(
        self, cert_der: bytes, data: bytes, signature: bytes, now: dt.datetime
    ) -> HcaHolder:
        """Check the certificate, then its key's RSA PKCS#1 v1.5 / SHA-256 signature."""
        cert = _parse(cert_der)
        holder = self._check(cert, now)
        if not _rsa_signature_ok(cert, data, signature):
            raise HcaError("signature does not verify", code=Code.HCA_BAD_SIGNATURE)
        return holder

    def _check(self, cert: x509.Certificate, now: dt.datetime) -> HcaHolder:
        if _is_ca(cert):
            raise HcaError("a CA certificate is not a card's", code=Code.HCA_UNTRUSTED_ISSUER)
        paths = list(self._paths(cert, MAX_CHAIN_DEPTH))
        if not paths:
            raise HcaError("no trusted chain to a root", code=Code.HCA_UNTRUSTED_ISSUER)
        moment = _utc(now)
        # Several paths may exist (a CA re-issued with new dates); any valid one will do.
        if not any(all(_valid_at(c, moment) for c in [cert, *path]) for path in paths):
            raise HcaError(
                _validity_detail(cert, paths[0], moment), code=Code.HCA_CERT_NOT_VALID_NOW
            )
        if self.is_revoked(cert.serial_number):
            raise HcaError(f"serial {cert.serial_number} is revoked", code=Code.HCA_CERT_REVOKED)
        return _holder(cert)

    def _paths(self, cert: x509.Certificate, depth: int) -> Iterator[list[x509.Certificate]]:
        """Each chain of CAs from ``cert``'s issuer up to a trusted root."""
        for root in self._roots:
            if _is_ca(root) and _issued_by(cert, root):
                yield [root]
        if depth == 0:
            return
        for ca in self._intermediates:
            if ca != cert and _is_ca(ca) and _issued_by(cert, ca):
                for rest in self._paths(ca, depth - 1):
                    yield [ca, *rest]


def kit_certificate(person: HpcPerson) -> x509.Certificate:
    """The kit's certificate for an HPC holder, as the card emulator carries it."""
    return pki.card_certificate(person.card_id, person.c_name, person.certificate)


def _parse(cert_der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(cert_der)
    except ValueError as exc:
        raise HcaError("certificate is not valid DER", code=Code.HCA_BAD_SIGNATURE) from exc


def _utc(now: dt.datetime) -> dt.datetime:
    """``now`` as an aware UTC time; a naive one is taken as UTC already."""
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca``'s name and key issued ``cert``."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    """Whether ``cert`` may sign certificates (basic constraints and key usage)."""
    try:
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return False
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False  # a CA without key usage is a malformed CA, not a CA to trust
    except ValueError:  # extensions that do not parse
        return False
    return usage.key_cert_sign


def _valid_at(cert: x509.Certificate, moment: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc


def _validity_detail(
    leaf: x509.Certificate, path: list[x509.Certificate], moment: dt.datetime
) -> str:
    """Which certificate is out of its dates, and which dates."""
    for cert in [leaf, *path]:
        if not _valid_at(cert, moment):
            role = "certificate" if cert is leaf else f"CA {_common_name(cert)!r}"
            return (
                f"{role} valid {cert.not_valid_before_utc:%Y-%m-%d} to "
                f"{cert.not_valid_after_utc:%Y-%m-%d}, not at {moment:%Y-%m-%d %H:%M:%S}Z"
            )
    return "certificate not valid now"


def _common_name(cert: x509.Certificate) -> str:
    return _attribute(cert.subject, NameOID.COMMON_NAME) or "?"


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    """The first value of ``oid`` in ``name`` if it is text, else ""."""
    values = name.get_attributes_for_oid(oid)
    value = values[0].value if values else ""
    return value if isinstance(value, str) else ""


def _holder(cert: x509.Certificate) -> HcaHolder:
    """The holder a card certificate names; 1420 if it names no card."""
    try:
        card_id = _attribute(cert.subject, NameOID.SERIAL_NUMBER)
        name = _attribute(cert.subject, NameOID.COMMON_NAME)
    except ValueError as exc:
        raise HcaError("certificate subject does not parse") from exc
    if not card_id or not name:
        raise HcaError("certificate names no card holder", code=Code.HCA_BAD_SIGNATURE)
    return HcaHolder(card_id=card_id, id_no="", name=name, serial=cert.serial_number)


def _rsa_signature_ok(cert: x509.Certificate, data: bytes, signature: bytes) -> bool:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


# --- mobile HCA assertions -------------------------------------------------


def make_mobile_assertion(
    person: HpcPerson, hospital_id: str, now: float, ttl: int = MOBILE_TTL
) -> str:
    """The kit's mobile HCA assertion for ``person`` at ``hospital_id``."""
    cert = kit_certificate(person)
    iat = math.floor(now)
    payload = {
        "v": MOBILE_VERSION,
        "cardId": person.card_id,
        "idNo": person.id_no,
        "name": person.c_name,
        "hospitalId": hospital_id,
        "iat": iat,
        "exp": iat + ttl,
        "certificate": _b64(cert.public_bytes(Encoding.DER)),
    }
    return seal_mobile_assertion(payload, rsa_key(f"hpc-{person.card_id}"))


def seal_mobile_assertion(payload: Mapping[str, object], key: rsa.RSAPrivateKey) -> str:
    """Sign any payload into an assertion (tests use it to build faulty ones)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    first = _b64(text.encode("utf-8"))
    signature = key.sign(first.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{first}.{_b64(signature)}"


def verify_mobile_assertion(
    assertion: str, trust: HcaTrust, session_hospital_id: str, now: float
) -> HcaHolder:
    """The holder of a valid assertion for this hospital; 1430 or 1431 otherwise."""
    first, signature = _split_assertion(assertion)
    fields = _assertion_fields(first)
    cert_der = _decode(fields["certificate"], "certificate")
    try:
        holder = trust.verify_signature(
            cert_der, first.encode("ascii"), signature, dt.datetime.fromtimestamp(now, dt.UTC)
        )
    except HcaError as exc:
        raise _mobile_error(f"{exc.detail} ({exc.code.display})") from exc
    if (fields["cardId"], fields["name"]) != (holder.card_id, holder.name):
        raise _mobile_error("cardId or name differs from the certificate")
    if now > fields["exp"]:
        raise _mobile_error("assertion has expired")
    if fields["iat"] > now + CLOCK_SKEW:
        raise _mobile_error("assertion is issued in the future")
    if fields["hospitalId"] != session_hospital_id:
        raise HcaError("assertion is for another hospital", code=Code.MOBILE_HCA_HOSPITAL_MISMATCH)
    return HcaHolder(holder.card_id, fields["idNo"], holder.name, holder.serial)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _mobile_error(detail: str) -> HcaError:
    return HcaError(detail, code=Code.MOBILE_HCA_BAD_SIGNATURE)


def _split_assertion(assertion: object) -> tuple[str, bytes]:
    """The first part's text and the signature's bytes."""
    if not isinstance(assertion, str):
        raise _mobile_error(f"assertion is not text but {type(assertion).__name__}")
    text = assertion.strip()
    if not text or len(text) > MAX_ASSERTION_LENGTH or not text.isascii():
        raise _mobile_error("assertion is empty, too long or not ASCII")
    parts = text.split(".")
    if len(parts) != 2:
        raise _mobile_error(f"assertion has {len(parts)} dot-separated parts, expected 2")
    return parts[0], _decode(parts[1], "signature")


def _decode(part: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(part, validate=True)
    except binascii.Error as exc:
        raise _mobile_error(f"{name} is not valid base64") from exc
    if not raw:
        raise _mobile_error(f"{name} is empty")
    return raw


_FIELD_TYPES: dict[str, type] = {
    "v": int,
    "cardId": str,
    "idNo": str,
    "name": str,
    "hospitalId": str,
    "iat": int,
    "exp": int,
    "certificate": str,
}


def _assertion_fields(first: str) -> dict[str, Any]:
    """The payload's fields, each present with its type; 1430 naming the first fault."""
    try:
        data = json.loads(_decode(first, "payload").decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise _mobile_error("payload is not JSON") from exc
    if not isinstance(data, dict):
        raise _mobile_error("payload is not a JSON object")
    for key, kind in _FIELD_TYPES.items():
        value = data.get(key)
        # bool is an int in Python; JSON true is not a number.
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _mobile_error(f"payload field {key} is missing or not {kind.__name__}")
    if data["v"] != MOBILE_VERSION:
        raise _mobile_error("unsupported payload version")
    return data
