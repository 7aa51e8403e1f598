"""The DC simulator's mobile HCA assertions: who signed, for which hospital, how long valid.

Every fault is 1430 (1431 for a sound assertion for another hospital) and never echoes
the assertion.
"""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given
from hypothesis import strategies as st

from broker.codes import Code
from nhi_kit.emulators import pki
from nhi_kit.emulators.dc.hca import (
    HcaError,
    HcaHolder,
    HcaTrust,
    kit_certificate,
    make_mobile_assertion,
    seal_mobile_assertion,
    verify_mobile_assertion,
)
from nhi_kit.emulators.keys import rsa_key
from nhi_kit.emulators.people import HpcPerson
from tests.dc.kit_hpcs import (
    EXPIRED,
    NOW,
    PEOPLE,
    REVOKED,
    TESTER,
    UNTRUSTED,
    VALID,
    der,
    refusal,
)

EPOCH_NOW = NOW.timestamp()
HOSPITAL = "3501200000"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- mobile HCA assertions ---------------------------------------------------


def assertion_payload(**changes: object) -> dict[str, object]:
    """The fields of the tester's assertion, with some changed (None deletes)."""
    first = make_mobile_assertion(TESTER, HOSPITAL, EPOCH_NOW).split(".")[0]
    payload: dict[str, object] = json.loads(base64.b64decode(first))
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def signed_first(first: bytes, key: rsa.RSAPrivateKey | None = None) -> str:
    """An assertion of any first-part bytes, signed by the tester's key."""
    part = b64(first)
    signer = key if key is not None else rsa_key(f"hpc-{TESTER.card_id}")
    return f"{part}.{b64(signer.sign(part.encode(), padding.PKCS1v15(), hashes.SHA256()))}"


def mobile_refusal(trust: HcaTrust, assertion: object, now: float = EPOCH_NOW) -> HcaError:
    return refusal(lambda: verify_mobile_assertion(assertion, trust, HOSPITAL, now))  # type: ignore[arg-type]


@pytest.mark.parametrize("person", VALID, ids=lambda p: p.card_id)
def test_a_good_mobile_assertion_names_its_holder(trust: HcaTrust, person: HpcPerson) -> None:
    assertion = make_mobile_assertion(person, HOSPITAL, EPOCH_NOW)
    holder = verify_mobile_assertion(assertion, trust, HOSPITAL, EPOCH_NOW + 10)
    assert holder == HcaHolder(
        person.card_id, person.id_no, person.c_name, kit_certificate(person).serial_number
    )


def test_an_assertion_for_another_hospital_is_refused_with_1431(trust: HcaTrust) -> None:
    assertion = make_mobile_assertion(TESTER, "7777777777", EPOCH_NOW)
    error = refusal(lambda: verify_mobile_assertion(assertion, trust, HOSPITAL, EPOCH_NOW))
    assert error.code == Code.MOBILE_HCA_HOSPITAL_MISMATCH


def test_a_faulty_assertion_for_another_hospital_is_still_1430(trust: HcaTrust) -> None:
    assertion = make_mobile_assertion(TESTER, "7777777777", EPOCH_NOW)
    error = refusal(lambda: verify_mobile_assertion(assertion, trust, HOSPITAL, EPOCH_NOW + 301))
    assert error.code == Code.MOBILE_HCA_BAD_SIGNATURE


GOOD = make_mobile_assertion(TESTER, HOSPITAL, EPOCH_NOW)
FIRST, SIGNATURE = GOOD.split(".")


@pytest.mark.parametrize(
    ("assertion", "fault"),
    [
        (None, "not text"),
        ("", "empty"),
        ("A" * 20000, "too long"),
        (GOOD + "é", "not ASCII"),
        (FIRST, "1 dot-separated"),
        (f"{GOOD}.{SIGNATURE}", "3 dot-separated"),
        (f"{FIRST}.!!!!", "signature is not valid base64"),
        (f"{FIRST}.", "signature is empty"),
        (f"!!!!.{SIGNATURE}", "payload is not valid base64"),
        (f"{FIRST[:-1]}.{SIGNATURE}", "payload is not valid base64"),
    ],
)
def test_a_malformed_assertion_is_refused_with_1430(
    trust: HcaTrust, assertion: object, fault: str
) -> None:
    error = mobile_refusal(trust, assertion)
    assert error.code == Code.MOBILE_HCA_BAD_SIGNATURE
    assert fault in error.detail


@pytest.mark.parametrize(
    ("first", "fault"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[" * 1100 + b"]" * 1100, "not JSON"),
        (b"[1, 2]", "not a JSON object"),
    ],
)
def test_a_payload_that_is_not_an_object_is_refused_with_1430(
    trust: HcaTrust, first: bytes, fault: str
) -> None:
    error = mobile_refusal(trust, signed_first(first))
    assert (error.code, fault in error.detail) == (Code.MOBILE_HCA_BAD_SIGNATURE, True)


@pytest.mark.parametrize(
    ("changes", "fault"),
    [
        ({"cardId": None}, "cardId is missing"),
        ({"idNo": 123}, "idNo is missing or not str"),
        ({"iat": "1780000000"}, "iat is missing or not int"),
        ({"exp": 1.5}, "exp is missing or not int"),
        ({"v": True}, "v is missing or not int"),
        ({"v": 2}, "unsupported payload version"),
        ({"certificate": None}, "certificate is missing"),
        ({"certificate": "!!!"}, "certificate is not valid base64"),
        ({"certificate": ""}, "certificate is empty"),
        ({"certificate": b64(b"not DER")}, "not valid DER (1420)"),
        ({"certificate": b64(der(pki.hca_certificate()))}, "(1423)"),
        ({"cardId": "100000291515"}, "differs from the certificate"),
        ({"name": "someone else"}, "differs from the certificate"),
        ({"exp": int(EPOCH_NOW) - 1}, "expired"),
        ({"iat": int(EPOCH_NOW) + 3600}, "in the future"),
    ],
)
def test_a_faulty_but_signed_payload_is_refused_with_1430(
    trust: HcaTrust, changes: dict[str, object], fault: str
) -> None:
    key = rsa_key(f"hpc-{TESTER.card_id}")
    error = mobile_refusal(trust, seal_mobile_assertion(assertion_payload(**changes), key))
    assert error.code == Code.MOBILE_HCA_BAD_SIGNATURE
    assert fault in error.detail


@pytest.mark.parametrize(
    ("person", "fault"),
    [(EXPIRED, "(1422)"), (UNTRUSTED, "(1423)"), (REVOKED, "(1424)")],
    ids=["expired", "untrusted", "revoked"],
)
def test_an_assertion_with_a_bad_certificate_is_refused_with_1430(
    trust: HcaTrust, person: HpcPerson, fault: str
) -> None:
    error = mobile_refusal(trust, make_mobile_assertion(person, HOSPITAL, EPOCH_NOW))
    assert error.code == Code.MOBILE_HCA_BAD_SIGNATURE
    assert fault in error.detail


def test_an_assertion_of_a_card_revoked_at_run_time_is_refused_with_1430(trust: HcaTrust) -> None:
    trust.revoke(kit_certificate(TESTER).serial_number)
    assert "(1424)" in mobile_refusal(trust, GOOD).detail


def test_an_assertion_signed_by_another_card_is_refused_with_1430(trust: HcaTrust) -> None:
    other = rsa_key(f"hpc-{PEOPLE['100000291515'].card_id}")
    error = mobile_refusal(trust, seal_mobile_assertion(assertion_payload(), other))
    assert error.code == Code.MOBILE_HCA_BAD_SIGNATURE
    assert "signature does not verify" in error.detail


def test_a_payload_changed_after_signing_is_refused_with_1430(trust: HcaTrust) -> None:
    changed = seal_mobile_assertion(
        assertion_payload(hospitalId="7777777777"), rsa_key(f"hpc-{TESTER.card_id}")
    ).split(".")[0]
    error = mobile_refusal(trust, f"{changed}.{SIGNATURE}")
    assert "signature does not verify" in error.detail


def test_an_assertion_lapses_after_its_ttl(trust: HcaTrust) -> None:
    assert verify_mobile_assertion(GOOD, trust, HOSPITAL, int(EPOCH_NOW) + 300).card_id
    assert "expired" in mobile_refusal(trust, GOOD, int(EPOCH_NOW) + 301).detail


def test_a_mobile_refusal_never_echoes_the_assertion(trust: HcaTrust) -> None:
    error = mobile_refusal(trust, GOOD, EPOCH_NOW + 10**6)
    assert FIRST not in str(error)
    assert SIGNATURE not in str(error)


KIT_TRUST = HcaTrust.kit()


@given(st.one_of(st.text(), st.text(alphabet="ABab01+/=.!é \n")))
def test_any_text_is_refused_with_1430_only(text: str) -> None:
    with pytest.raises(HcaError) as caught:
        verify_mobile_assertion(text, KIT_TRUST, HOSPITAL, EPOCH_NOW)
    assert caught.value.code == Code.MOBILE_HCA_BAD_SIGNATURE
