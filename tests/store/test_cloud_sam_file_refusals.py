"""The .SAM file refused: every reason for 1610, and no secret shown when loaded or refused."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from broker.cloud_sam import MAX_FILE_SIZE, canonical_json, load_cloud_sam
from nhi_kit.emulators import people
from nhi_kit.emulators.cloud_sam_files import build_cloud_sam, kit_cloud_sam
from nhi_kit.emulators.keys import ec_key, issuer_master, rsa_key
from tests.store.kit_sam_file import (
    CONTENT,
    KIT_CLOUD_SAMS,
    NAME,
    SAM_ID,
    TRUSTED,
    assert_no_secret,
    kit_obj,
    refused,
)

Mutation = Callable[[dict[str, Any]], None]


def signed(obj: dict[str, Any], key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """``obj`` signed again, as a DC holding ``key`` (default: the kit's DC) would issue it."""
    signer = key if key is not None else ec_key("dc-grant")
    signature = signer.sign(canonical_json(obj), ec.ECDSA(hashes.SHA256()))
    return json.dumps({**obj, "dcSignature": base64.b64encode(signature).decode()}).encode()


def pem_of(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """An unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


# --- every reason for 1610 -------------------------------------------------------------


def test_a_file_signed_by_another_data_centre_is_refused() -> None:
    rogue = ec.generate_private_key(ec.SECP256R1())
    record = next(sam for sam in people.SAMS if sam.sam_id == SAM_ID)
    masters = {kind: issuer_master(kind, record.environment) for kind in ("HC", "HPC")}
    name, content = build_cloud_sam(
        record, rsa_key(f"sam-{SAM_ID}"), rogue, masters, dt.datetime.now(dt.UTC)
    )
    assert "DC signature does not verify" in refused(name, content).detail


def test_a_field_altered_after_signing_is_refused() -> None:
    obj = kit_obj()
    obj["hospitalName"] = "冒名機構"
    assert "DC signature does not verify" in refused(NAME, json.dumps(obj).encode()).detail


def test_a_file_larger_than_64_kib_is_refused() -> None:
    content = CONTENT + b" " * (MAX_FILE_SIZE + 1 - len(CONTENT))
    assert f"more than {MAX_FILE_SIZE}" in refused(NAME, content).detail
    load_cloud_sam(NAME, content[:MAX_FILE_SIZE], TRUSTED)  # the limit itself is allowed


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"format": "nhi-broker/cloud-sam/1", "format": "x"}', "'format' appears twice"),
        (b"{}", "missing field 'format'"),
        (b'{"format": "nhi-broker/cloud-sam/2"}', "unknown format 'nhi-broker/cloud-sam/2'"),
        (b'{"format": 1}', "unknown format"),
    ],
)
def test_a_file_that_is_not_our_json_names_why(content: bytes, reason: str) -> None:
    assert reason in refused(NAME, content).detail


@pytest.mark.parametrize("field", [k for k in kit_obj() if k != "format"])
def test_a_missing_field_is_named(field: str) -> None:
    obj = kit_obj()
    del obj[field]
    assert f"missing field {field!r}" in refused(NAME, json.dumps(obj).encode()).detail


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("samId", 901000000047, "field 'samId' must be a string"),
        ("hospitalName", None, "field 'hospitalName' must be a string"),
        ("comport", 3, "field 'comport' must be a string or null"),
        ("issuerMasters", "AAAA", "field 'issuerMasters' must be an object"),
        ("dcSignature", ["x"], "field 'dcSignature' must be a string"),
    ],
)
def test_a_mistyped_field_is_named(field: str, value: object, reason: str) -> None:
    obj = kit_obj()
    obj[field] = value
    assert reason in refused(NAME, json.dumps(obj).encode()).detail


def test_an_unknown_field_is_named() -> None:
    obj = {**kit_obj(), "extra": 1}
    assert "unknown field 'extra'" in refused(NAME, json.dumps(obj).encode()).detail


@pytest.mark.parametrize(
    "name",
    ["7777777777901000000054.SAM", "7777777_01901000000047.SAM"],
)
def test_ids_that_do_not_match_the_file_name_are_refused(name: str) -> None:
    assert "do not match the file name" in refused(name, CONTENT).detail


def set_field(field: str, value: object) -> Mutation:
    """A mutation that sets one field."""

    def mutate(obj: dict[str, Any]) -> None:
        obj[field] = value

    return mutate


def set_master(kind: str, value: object) -> Mutation:
    """A mutation that sets one issuer master."""

    def mutate(obj: dict[str, Any]) -> None:
        obj["issuerMasters"][kind] = value

    return mutate


def drop_master(kind: str) -> Mutation:
    """A mutation that removes one issuer master."""

    def mutate(obj: dict[str, Any]) -> None:
        del obj["issuerMasters"][kind]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (set_field("privateKey", "not a key"), "privateKey does not load"),
        (
            set_field("privateKey", pem_of(ec.generate_private_key(ec.SECP256R1()))),
            "privateKey is not an RSA key",
        ),
        (
            set_field("privateKey", pem_of(rsa.generate_private_key(65537, 1024))),
            "at least 2048 bits",
        ),
        (
            set_field("dcGrantPublicKey", "-----BEGIN PUBLIC KEY-----"),
            "dcGrantPublicKey does not load",
        ),
        (
            set_field(
                "dcGrantPublicKey",
                ec.generate_private_key(ec.SECP384R1())
                .public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode(),
            ),
            "not an EC P-256 public key",
        ),
        (
            set_master("HC", base64.b64encode(bytes(15)).decode()),
            "issuerMasters.HC is 15 bytes, not 16",
        ),
        (set_master("HPC", base64.b64encode(bytes(17)).decode()), "issuerMasters.HPC is 17 bytes"),
        (set_master("HC", "not base64!"), "issuerMasters.HC is not base64"),
        (set_master("HC", 7), "field 'issuerMasters.HC' must be a string"),
        (drop_master("HPC"), "issuerMasters must hold exactly HC and HPC"),
        (set_master("VHC", "AAAA"), "issuerMasters must hold exactly HC and HPC"),
        (set_field("issuedAt", "2024-06-20"), "issuedAt is not a UTC time"),
        (set_field("issuedAt", "2024-06-20T00:00:00+08:00"), "issuedAt is not a UTC time"),
    ],
)
def test_a_signed_file_with_a_bad_key_master_or_time_names_it(
    mutate: Mutation, reason: str
) -> None:
    obj = kit_obj()
    mutate(obj)
    assert reason in refused(NAME, signed(obj)).detail


def test_a_signature_that_is_not_base64_is_named() -> None:
    obj = {**kit_obj(), "dcSignature": "%%%"}
    assert "dcSignature is not base64" in refused(NAME, json.dumps(obj).encode()).detail


def test_a_re_signed_file_loads_so_the_checks_above_test_only_their_field() -> None:
    assert load_cloud_sam(NAME, signed(kit_obj()), TRUSTED).sam_id == SAM_ID


# --- no secrets shown ------------------------------------------------------------------


@pytest.mark.parametrize("sam_id", KIT_CLOUD_SAMS)
def test_a_loaded_file_shows_no_key_material_in_repr_or_str(sam_id: str) -> None:
    sam = load_cloud_sam(*kit_cloud_sam(sam_id), TRUSTED)
    for text in (repr(sam), str(sam)):
        assert sam_id in text
        assert_no_secret(text, sam_id)


def test_a_key_pasted_into_any_field_is_never_echoed() -> None:
    pem = kit_obj()["privateKey"]
    for field in ("format", "samId", "hospitalId", pem[:40]):
        obj = kit_obj()
        obj[field] = pem
        refused(NAME, json.dumps(obj).encode())
