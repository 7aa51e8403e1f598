"""The .SAM file: the file-name rule, every reason a file is refused (1610), no secrets shown."""

from __future__ import annotations

import base64
import datetime as dt
import json
import traceback
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st

from broker.cards.records import Environment
from broker.cloud_sam import (
    FORMAT,
    MAX_FILE_SIZE,
    CloudSamFileError,
    canonical_json,
    file_name,
    load_cloud_sam,
    parse_file_name,
)
from broker.codes import Code
from broker.errors import BrokerError
from nhi_kit.emulators import people
from nhi_kit.emulators.cloud_sam_files import build_cloud_sam, kit_cloud_sam
from nhi_kit.emulators.keys import ec_key, issuer_master, rsa_key

TRUSTED = ec_key("dc-grant").public_key()
SAM_ID = "901000000047"
NAME, CONTENT = kit_cloud_sam(SAM_ID)
KIT_CLOUD_SAMS = [sam.sam_id for sam in people.SAMS if sam.cloud]
HOSPITAL_IDS = st.from_regex(r"[A-Za-z0-9_]{10}", fullmatch=True)
SAM_IDS = st.from_regex(r"[09][0-9]{11}", fullmatch=True)
Mutation = Callable[[dict[str, Any]], None]


@cache
def secret_forms(sam_id: str = SAM_ID) -> tuple[bytes, ...]:
    """Every form in which the SAM's key or its masters could leak."""
    key = rsa_key(f"sam-{sam_id}")
    none = serialization.NoEncryption()
    pkcs8 = serialization.PrivateFormat.PKCS8
    pem = key.private_bytes(serialization.Encoding.PEM, pkcs8, none)
    der = key.private_bytes(serialization.Encoding.DER, pkcs8, none)
    forms = [b"PRIVATE KEY", der, *(line for line in pem.splitlines() if b"-----" not in line)]
    for kind in ("HC", "HPC"):
        master = issuer_master(kind, Environment.of_sam_id(sam_id))
        forms += [master, master.hex().encode(), base64.b64encode(master), repr(master).encode()]
    return tuple(forms)


def assert_no_secret(text: str, sam_id: str = SAM_ID) -> None:
    """No form of the SAM's secrets appears in ``text``."""
    raw = text.encode("utf-8")
    for secret in secret_forms(sam_id):
        assert secret not in raw


def kit_obj() -> dict[str, Any]:
    """The kit SAM's file as a JSON object."""
    obj: dict[str, Any] = json.loads(CONTENT)
    return obj


def signed(obj: dict[str, Any], key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """``obj`` signed again, as a DC holding ``key`` (default: the kit's DC) would issue it."""
    signer = key if key is not None else ec_key("dc-grant")
    signature = signer.sign(canonical_json(obj), ec.ECDSA(hashes.SHA256()))
    return json.dumps({**obj, "dcSignature": base64.b64encode(signature).decode()}).encode()


def refused(name: str, content: bytes) -> CloudSamFileError:
    """The error ``load_cloud_sam`` refuses with: 1610, and no secret in any rendering."""
    with pytest.raises(CloudSamFileError) as caught:
        load_cloud_sam(name, content, TRUSTED)
    exc = caught.value
    assert isinstance(exc, BrokerError)
    assert exc.code == Code.CLOUD_SAM_FILE_INVALID
    for text in (str(exc), repr(exc), "".join(traceback.format_exception(exc))):
        assert_no_secret(text)
    return exc


def pem_of(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """An unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


# --- the file name ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hospital_id", "sam_id"),
    [
        ("7777777777901000000047.SAM", "7777777777", "901000000047"),
        ("3501200000001000000103.SAM", "3501200000", "001000000103"),
        ("7777777_01901000000054.SAM", "7777777_01", "901000000054"),
    ],
)
def test_the_manuals_file_names_parse_into_hospital_and_sam_ids(
    name: str, hospital_id: str, sam_id: str
) -> None:
    assert parse_file_name(name) == (hospital_id, sam_id)
    assert file_name(hospital_id, sam_id) == name


@given(hospital_id=HOSPITAL_IDS, sam_id=SAM_IDS)
def test_any_name_made_by_the_rule_parses_back(hospital_id: str, sam_id: str) -> None:
    assert parse_file_name(file_name(hospital_id, sam_id)) == (hospital_id, sam_id)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "7777777777901000000047",  # no extension
        "7777777777901000000047.sam",  # the manual's extension is upper case
        "7777777777901000000047.SAM.txt",
        "777777777901000000047.SAM",  # 9-character hospital id
        "77777777777901000000047.SAM",  # 11-character hospital id
        "7777777777801000000047.SAM",  # SAM id starts with 8
        "77777777779010000000471.SAM",  # 13-digit SAM id
        "7777777777９01000000047.SAM",  # a full-width digit
        "77777-7777901000000047.SAM",
        "dir/7777777777901000000047.SAM",
        "..\\7777777777901000000047.SAM",
    ],
)
def test_names_breaking_the_rule_are_refused_as_bad_file_names(name: str) -> None:
    assert "bad file name" in refused(name, CONTENT).detail


@given(
    st.text(max_size=40).filter(lambda s: not s.endswith(".SAM") or len(s) != 26),
)
def test_arbitrary_text_is_never_taken_for_a_file_name(name: str) -> None:
    with pytest.raises(CloudSamFileError, match="bad file name"):
        parse_file_name(name)


@given(hospital_id=st.text(max_size=12), sam_id=SAM_IDS)
def test_file_name_refuses_a_hospital_id_outside_the_rule(hospital_id: str, sam_id: str) -> None:
    ok = len(hospital_id) == 10 and all(
        c.isascii() and (c.isalnum() or c == "_") for c in hospital_id
    )
    if ok:
        assert file_name(hospital_id, sam_id).endswith(f"{sam_id}.SAM")
    else:
        with pytest.raises(ValueError, match="file-name rule"):
            file_name(hospital_id, sam_id)


# --- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("sam_id", KIT_CLOUD_SAMS)
def test_a_kit_cloud_sam_file_round_trips_every_field(sam_id: str) -> None:
    record = next(sam for sam in people.SAMS if sam.sam_id == sam_id)
    name, content = kit_cloud_sam(sam_id)
    sam = load_cloud_sam(name, content, TRUSTED)
    assert name == f"{record.hospital_id}{sam_id}.SAM" == sam.file_name
    assert (sam.sam_id, sam.hospital_id) == (record.sam_id, record.hospital_id)
    assert (sam.hospital_name, sam.hospital_short_name) == (
        record.hospital_name,
        record.hospital_short_name,
    )
    assert sam.comport == record.comport
    assert sam.environment == record.environment
    assert sam.identity.sam_id == sam_id
    assert sam.private_key.private_numbers() == rsa_key(f"sam-{sam_id}").private_numbers()
    assert sam.dc_grant_public_key == TRUSTED
    assert sam.issuer_masters == {
        kind: issuer_master(kind, record.environment) for kind in ("HC", "HPC")
    }
    assert sam.issued_at == dt.datetime(2024, 6, 20, tzinfo=dt.UTC)


def test_a_kit_file_is_the_same_bytes_every_time() -> None:
    assert kit_cloud_sam(SAM_ID) == (NAME, CONTENT)


def test_a_kit_file_is_the_documented_json() -> None:
    obj = kit_obj()
    assert obj["format"] == FORMAT
    assert obj["hospitalName"] == "測試機構"
    assert "測試機構".encode() in CONTENT  # UTF-8, not \\u escapes
    assert obj["issuedAt"] == "2024-06-20T00:00:00Z"
    assert obj["privateKey"].startswith("-----BEGIN PRIVATE KEY-----")
    assert obj["dcGrantPublicKey"].startswith("-----BEGIN PUBLIC KEY-----")


def test_a_file_with_a_byte_order_mark_still_loads() -> None:
    assert load_cloud_sam(NAME, b"\xef\xbb\xbf" + CONTENT, TRUSTED).sam_id == SAM_ID


def test_kit_cloud_sam_refuses_a_physical_or_unknown_sam() -> None:
    with pytest.raises(ValueError, match="900000000101"):
        kit_cloud_sam("900000000101")
    with pytest.raises(ValueError, match="123"):
        kit_cloud_sam("123")


def test_build_refuses_an_issue_time_without_a_zone() -> None:
    record = people.SAMS[1]
    with pytest.raises(ValueError, match="time zone"):
        build_cloud_sam(
            record, rsa_key(f"sam-{record.sam_id}"), ec_key("dc-grant"), {}, dt.datetime(2024, 1, 1)
        )


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
