"""The .SAM file that loads: the file-name rule, and kit files round-tripping every field."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.cloud_sam import FORMAT, CloudSamFileError, file_name, load_cloud_sam, parse_file_name
from nhi_kit.emulators import people
from nhi_kit.emulators.cloud_sam_files import build_cloud_sam, kit_cloud_sam
from nhi_kit.emulators.keys import ec_key, issuer_master, rsa_key
from tests.store.kit_sam_file import (
    CONTENT,
    KIT_CLOUD_SAMS,
    NAME,
    SAM_ID,
    TRUSTED,
    kit_obj,
    refused,
)

HOSPITAL_IDS = st.from_regex(r"[A-Za-z0-9_]{10}", fullmatch=True)
SAM_IDS = st.from_regex(r"[09][0-9]{11}", fullmatch=True)


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
