"""Issuing ``.SAM`` files, as the data centre does: the kit's simulator and its tests.

The format is ours (``broker.cloud_sam``); the broker only loads files. The
kit's files are signed with the kit's grant key, which only the sim profile
trusts.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from broker.cloud_sam import ECDSA, FORMAT, MASTER_KINDS, TIME_FORMAT, canonical_json, file_name
from nhi_kit.emulators import people
from nhi_kit.emulators.keys import ec_key, issuer_master, rsa_key

KIT_ISSUED_AT = dt.datetime(2024, 6, 20, tzinfo=dt.UTC)


def build_cloud_sam(
    record: people.SamRecord,
    private_key: rsa.RSAPrivateKey,
    grant_key: ec.EllipticCurvePrivateKey,
    issuer_masters: dict[str, bytes],
    issued_at: dt.datetime,
) -> tuple[str, bytes]:
    """(file name, content) of a ``.SAM`` file the DC issues for a cloud SAM."""
    if record.hospital_name is None or record.hospital_short_name is None:
        raise ValueError(f"SAM {record.sam_id} has no hospital names: not a cloud SAM")
    if issued_at.utcoffset() is None:
        raise ValueError("issued_at must carry a time zone")
    obj: dict[str, Any] = {
        "format": FORMAT,
        "samId": record.sam_id,
        "hospitalId": record.hospital_id,
        "hospitalName": record.hospital_name,
        "hospitalShortName": record.hospital_short_name,
        "comport": record.comport,
        "privateKey": _private_pem(private_key),
        "dcGrantPublicKey": _public_pem(grant_key.public_key()),
        "issuerMasters": {kind: b64(key) for kind, key in issuer_masters.items()},
        "issuedAt": issued_at.astimezone(dt.UTC).strftime(TIME_FORMAT),
    }
    obj["dcSignature"] = b64(grant_key.sign(canonical_json(obj), ECDSA))
    text = json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
    return file_name(record.hospital_id, record.sam_id), text.encode("utf-8")


@cache  # the same bytes every time, and signing costs a key load
def kit_cloud_sam(sam_id: str) -> tuple[str, bytes]:
    """(file name, content) of one of the kit's cloud SAMs, always the same bytes."""
    record = next((sam for sam in people.SAMS if sam.cloud and sam.sam_id == sam_id), None)
    if record is None:
        raise ValueError(f"the kit has no cloud SAM {sam_id!r}")
    masters = {kind: issuer_master(kind, record.environment) for kind in MASTER_KINDS}
    return build_cloud_sam(
        record, rsa_key(f"sam-{sam_id}"), ec_key("dc-grant"), masters, KIT_ISSUED_AT
    )


def _private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def _public_pem(key: ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
