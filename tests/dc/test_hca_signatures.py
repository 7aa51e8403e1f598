"""The DC simulator's check of a card's signature over data: 1420, after the certificate."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from broker.codes import Code
from nhi_kit.emulators.dc.hca import HcaTrust
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
    cert_der,
    refusal,
)


def sign(person: HpcPerson, data: bytes) -> bytes:
    return rsa_key(f"hpc-{person.card_id}").sign(data, padding.PKCS1v15(), hashes.SHA256())


# --- signatures --------------------------------------------------------------


@pytest.mark.parametrize("person", VALID, ids=lambda p: p.card_id)
def test_a_card_signature_over_the_data_verifies(trust: HcaTrust, person: HpcPerson) -> None:
    data = b"challenge from the DC"
    holder = trust.verify_signature(cert_der(person), data, sign(person, data), NOW)
    assert holder.card_id == person.card_id


def test_changed_data_fails_with_1420(trust: HcaTrust) -> None:
    signature = sign(TESTER, b"challenge")
    error = refusal(lambda: trust.verify_signature(cert_der(TESTER), b"challengE", signature, NOW))
    assert error.code == Code.HCA_BAD_SIGNATURE


@pytest.mark.parametrize(
    "signature",
    [sign(PEOPLE["100000291515"], b"challenge"), b"", b"\x00" * 256, b"garbage"],
    ids=["another-card", "empty", "zeros", "garbage"],
)
def test_a_bad_signature_fails_with_1420(trust: HcaTrust, signature: bytes) -> None:
    error = refusal(lambda: trust.verify_signature(cert_der(TESTER), b"challenge", signature, NOW))
    assert error.code == Code.HCA_BAD_SIGNATURE


@pytest.mark.parametrize(
    ("person", "code"),
    [(UNTRUSTED, 1423), (EXPIRED, 1422), (REVOKED, 1424)],
    ids=["untrusted", "expired", "revoked"],
)
def test_the_certificate_is_checked_before_the_signature(
    trust: HcaTrust, person: HpcPerson, code: int
) -> None:
    error = refusal(lambda: trust.verify_signature(cert_der(person), b"d", sign(person, b"d"), NOW))
    assert error.code == code
