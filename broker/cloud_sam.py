"""The cloud SAM file (``.SAM``): our own signed JSON format, since the real one is not public.

A file holds one cloud SAM's identity and secrets, signed by the data
centre's grant key (ECDSA P-256, SHA-256) over the canonical JSON of every
field but ``dcSignature``. Errors name what is wrong and never carry key
material.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from broker.cards.records import Environment, SamIdentity
from broker.codes import Code
from broker.errors import BrokerError

FORMAT = "nhi-broker/cloud-sam/1"
MAX_FILE_SIZE = 64 * 1024  # a real file is ~3 KB; the API's body limit is 64 KiB too
RSA_KEY_BITS = 2048
MASTER_LENGTH = 16
MASTER_KINDS = ("HC", "HPC")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Manual: hospital id 10 characters (test ids may hold "_"), SAM id 12 digits
# starting 0 (formal) or 9 (test).
_NAME = re.compile(r"([A-Za-z0-9_]{10})([09][0-9]{11})\.SAM")
ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)  # RFC 6979: same input, same file

# field → accepted JSON types; the signature and the format are checked apart.
_FIELDS: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "samId": (str,),
    "hospitalId": (str,),
    "hospitalName": (str,),
    "hospitalShortName": (str,),
    "comport": (str, type(None)),
    "privateKey": (str,),
    "dcGrantPublicKey": (str,),
    "issuerMasters": (dict,),
    "issuedAt": (str,),
    "dcSignature": (str,),
}


class CloudSamFileError(BrokerError):
    """A ``.SAM`` file is malformed, altered or not from the trusted data centre."""

    default_code = Code.CLOUD_SAM_FILE_INVALID


@dataclass(frozen=True)
class CloudSamFile:
    """A validated cloud SAM: identity, its RSA key and the card-issuer masters."""

    sam_id: str
    hospital_id: str
    hospital_name: str
    hospital_short_name: str
    comport: str | None
    private_key: rsa.RSAPrivateKey = field(repr=False)
    dc_grant_public_key: ec.EllipticCurvePublicKey
    issuer_masters: dict[str, bytes] = field(repr=False)
    issued_at: dt.datetime

    @property
    def environment(self) -> Environment:
        """Formal (SAM id starts with 0) or test (9)."""
        return Environment.of_sam_id(self.sam_id)

    @property
    def identity(self) -> SamIdentity:
        """The identity a SAM session reports for this SAM."""
        return SamIdentity(
            self.sam_id, self.hospital_id, self.hospital_name, self.hospital_short_name
        )

    @property
    def file_name(self) -> str:
        """The file name the manual's rule gives this SAM."""
        return file_name(self.hospital_id, self.sam_id)


def file_name(hospital_id: str, sam_id: str) -> str:
    """Hospital id + SAM id + ``.SAM``; ValueError if either id breaks the rule."""
    name = f"{hospital_id}{sam_id}.SAM"
    if _NAME.fullmatch(name) is None:
        raise ValueError(
            f"hospital id {hospital_id!r} or SAM id {sam_id!r} breaks the file-name rule"
        )
    return name


def parse_file_name(name: str) -> tuple[str, str]:
    """(hospital id, SAM id) from a ``.SAM`` file name; CloudSamFileError if it is not one."""
    match = _NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        shown = repr(name)[:80]
        raise CloudSamFileError(
            f"bad file name {shown}: expected a 10-character hospital id, a 12-digit SAM id "
            "starting 0 or 9, and .SAM (e.g. 7777777777901000000047.SAM)"
        )
    return match.group(1), match.group(2)


def canonical_json(obj: dict[str, Any]) -> bytes:
    """The bytes the DC signs: every field but ``dcSignature``, canonical JSON."""
    unsigned = {key: value for key, value in obj.items() if key != "dcSignature"}
    return json.dumps(unsigned, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


# --- loading (the broker's side) -------------------------------------------------------


def load_cloud_sam(
    name: str, content: bytes, trusted_dc_key: ec.EllipticCurvePublicKey | None
) -> CloudSamFile:
    """Validate a ``.SAM`` file; CloudSamFileError (1610) naming what is wrong.

    ``trusted_dc_key`` is the data centre's grant key the configuration names
    (``[dc] grant_public_key``); without one no file is trusted.
    """
    if trusted_dc_key is None:
        raise CloudSamFileError(
            "no data-centre key is trusted to sign .SAM files: set [dc] grant_public_key "
            "in the configuration to the PEM file of the data centre's grant key"
        )
    hospital_id, sam_id = parse_file_name(name)
    obj = _parse_json(content)
    _check_fields(obj)
    if obj["samId"] != sam_id or obj["hospitalId"] != hospital_id:
        raise CloudSamFileError(
            f"ids in the file (hospital {_shown(obj['hospitalId'])}, SAM {_shown(obj['samId'])}) "
            f"do not match the file name {name!r}"
        )
    # Authenticate before parsing any key: untrusted key bytes are never loaded.
    _verify_signature(obj, trusted_dc_key)
    return CloudSamFile(
        sam_id=sam_id,
        hospital_id=hospital_id,
        hospital_name=obj["hospitalName"],
        hospital_short_name=obj["hospitalShortName"],
        comport=obj["comport"],
        private_key=_load_private_key(obj["privateKey"]),
        dc_grant_public_key=_load_grant_key(obj["dcGrantPublicKey"]),
        issuer_masters=_load_masters(obj["issuerMasters"]),
        issued_at=_load_time(obj["issuedAt"]),
    )


def _parse_json(content: bytes) -> dict[str, Any]:
    """The file's top-level JSON object."""
    if not isinstance(content, bytes | bytearray):
        raise CloudSamFileError("file content must be bytes")
    if len(content) > MAX_FILE_SIZE:
        raise CloudSamFileError(f"file is {len(content)} bytes, more than {MAX_FILE_SIZE}")
    try:
        text = bytes(content).decode("utf-8-sig")  # tolerate a BOM from Windows editors
    except UnicodeDecodeError:
        raise CloudSamFileError("file is not UTF-8 text") from None
    try:
        obj = json.loads(text, object_pairs_hook=_refuse_duplicates)
    except json.JSONDecodeError as exc:
        # exc.msg never quotes the document, so no key bytes leak through it.
        raise CloudSamFileError(
            f"file is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(obj, dict):
        raise CloudSamFileError("file is not a JSON object")
    return obj


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; a repeated key would let the signed and the used value differ."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise CloudSamFileError(f"field {_shown(key)} appears twice")
        obj[key] = value
    return obj


def _check_fields(obj: dict[str, Any]) -> None:
    """Format first, then every field present with its JSON type, and no others."""
    if "format" not in obj:
        raise CloudSamFileError("missing field 'format'")
    if obj["format"] != FORMAT:
        raise CloudSamFileError(f"unknown format {_shown(obj['format'])}, expected {FORMAT!r}")
    for key, types in _FIELDS.items():
        if key not in obj:
            raise CloudSamFileError(f"missing field {key!r}")
        if not isinstance(obj[key], types):
            expected = " or ".join("null" if t is type(None) else _JSON_NAMES[t] for t in types)
            raise CloudSamFileError(f"field {key!r} must be {expected}")
    unknown = sorted(set(obj) - set(_FIELDS))
    if unknown:
        raise CloudSamFileError(f"unknown field {_shown(unknown[0])}")


_JSON_NAMES: dict[type, str] = {str: "a string", dict: "an object"}
_SHOWABLE = re.compile(r"[\w./:-]{1,40}")


def _shown(value: object) -> str:
    """A value from the file, quoted only if short and plain: never a slice of a key."""
    if isinstance(value, str) and _SHOWABLE.fullmatch(value):
        return repr(value)
    return "(value not shown)"


def _verify_signature(obj: dict[str, Any], trusted_dc_key: ec.EllipticCurvePublicKey) -> None:
    signature = _b64decode(obj["dcSignature"], "dcSignature")
    try:
        trusted_dc_key.verify(signature, canonical_json(obj), ECDSA)
    except InvalidSignature:
        raise CloudSamFileError(
            "DC signature does not verify: the file was altered or not issued by the trusted "
            "data centre"
        ) from None


def _load_private_key(pem: str) -> rsa.RSAPrivateKey:
    try:
        # The DC's signature already vouches for the key; the full RSA check costs ~35 ms.
        key = serialization.load_pem_private_key(
            pem.encode("utf-8"), password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # The library's message is dropped: it is no help and must not carry key bytes.
        raise CloudSamFileError("privateKey does not load as an unencrypted PEM key") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < RSA_KEY_BITS:
        raise CloudSamFileError(f"privateKey is not an RSA key of at least {RSA_KEY_BITS} bits")
    return key


def _load_grant_key(pem: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode("utf-8"))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CloudSamFileError("dcGrantPublicKey does not load as a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CloudSamFileError("dcGrantPublicKey is not an EC P-256 public key")
    return key


def _load_masters(masters: dict[str, Any]) -> dict[str, bytes]:
    if sorted(masters) != sorted(MASTER_KINDS):
        raise CloudSamFileError(f"issuerMasters must hold exactly {' and '.join(MASTER_KINDS)}")
    loaded: dict[str, bytes] = {}
    for kind in MASTER_KINDS:
        where = f"issuerMasters.{kind}"
        if not isinstance(masters[kind], str):
            raise CloudSamFileError(f"field {where!r} must be a string")
        raw = _b64decode(masters[kind], where)
        if len(raw) != MASTER_LENGTH:
            raise CloudSamFileError(f"{where} is {len(raw)} bytes, not {MASTER_LENGTH}")
        loaded[kind] = raw
    return loaded


def _load_time(text: str) -> dt.datetime:
    try:
        parsed = dt.datetime.strptime(text, TIME_FORMAT)
    except ValueError:
        raise CloudSamFileError("issuedAt is not a UTC time like 2024-06-20T00:00:00Z") from None
    return parsed.replace(tzinfo=dt.UTC)


def _b64decode(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CloudSamFileError(f"{where} is not base64") from None
