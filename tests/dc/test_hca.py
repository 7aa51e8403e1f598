"""The DC simulator's HCA checks: certificate chains, signatures, mobile assertions."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
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
from nhi_kit.emulators.people import HPCS, HpcPerson

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
EPOCH_NOW = NOW.timestamp()
HOSPITAL = "3501200000"
PEOPLE = {p.card_id: p for p in HPCS}
TESTER = PEOPLE["100000291508"]  # the manual's HPC
EXPIRED = PEOPLE["100000291546"]
UNTRUSTED = PEOPLE["100000291553"]
REVOKED = PEOPLE["100000291560"]
VALID = [p for p in HPCS if p.certificate == "valid"]


@pytest.fixture
def trust() -> HcaTrust:
    """The kit's trust store, fresh for each test (revocations mutate it)."""
    return HcaTrust.kit()


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def cert_der(person: HpcPerson) -> bytes:
    return der(kit_certificate(person))


def sign(person: HpcPerson, data: bytes) -> bytes:
    return rsa_key(f"hpc-{person.card_id}").sign(data, padding.PKCS1v15(), hashes.SHA256())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def refusal(action: Callable[[], object]) -> HcaError:
    with pytest.raises(HcaError) as caught:
        action()
    return caught.value


# --- certificates ------------------------------------------------------------


@pytest.mark.parametrize("person", VALID, ids=lambda p: p.card_id)
def test_a_kit_hpc_with_a_valid_certificate_passes(trust: HcaTrust, person: HpcPerson) -> None:
    holder = trust.check_certificate(cert_der(person), NOW)
    assert holder == HcaHolder(
        card_id=person.card_id,
        id_no="",
        name=person.c_name,
        serial=kit_certificate(person).serial_number,
    )


@pytest.mark.parametrize("card_id", ["100000291508", "100000291515", "100000291539"])
def test_the_named_kit_hpcs_are_among_the_valid_ones(card_id: str) -> None:
    assert PEOPLE[card_id] in VALID


def test_an_expired_certificate_is_refused_with_1422(trust: HcaTrust) -> None:
    error = refusal(lambda: trust.check_certificate(cert_der(EXPIRED), NOW))
    assert error.code == Code.HCA_CERT_NOT_VALID_NOW
    assert "2010-01-01 to 2020-01-01" in error.detail


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2023, 12, 31, 23, 59, tzinfo=dt.UTC),
        dt.datetime(2044, 1, 1, 0, 1, tzinfo=dt.UTC),
    ],
    ids=["before-2024", "after-2044"],
)
def test_a_good_certificate_outside_its_dates_is_refused_with_1422(
    trust: HcaTrust, moment: dt.datetime
) -> None:
    error = refusal(lambda: trust.check_certificate(cert_der(TESTER), moment))
    assert error.code == Code.HCA_CERT_NOT_VALID_NOW


def test_validity_bounds_are_inclusive_and_times_may_be_in_any_zone(trust: HcaTrust) -> None:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    taipei = dt.timezone(dt.timedelta(hours=8))
    assert trust.check_certificate(cert_der(TESTER), start).card_id == TESTER.card_id
    assert trust.check_certificate(cert_der(TESTER), start.astimezone(taipei)).serial
    naive_before = dt.datetime(2023, 12, 31, 23, 59)  # taken as UTC
    assert refusal(lambda: trust.check_certificate(cert_der(TESTER), naive_before)).code == (
        Code.HCA_CERT_NOT_VALID_NOW
    )


def test_a_certificate_of_the_rogue_ca_is_refused_with_1423(trust: HcaTrust) -> None:
    error = refusal(lambda: trust.check_certificate(cert_der(UNTRUSTED), NOW))
    assert error.code == Code.HCA_UNTRUSTED_ISSUER


def test_without_the_intermediate_no_chain_reaches_the_root(trust: HcaTrust) -> None:
    roots_only = HcaTrust([pki.root_certificate()], [], set())
    error = refusal(lambda: roots_only.check_certificate(cert_der(TESTER), NOW))
    assert error.code == Code.HCA_UNTRUSTED_ISSUER


def test_the_rogue_ca_itself_trusted_as_an_intermediate_still_needs_a_root() -> None:
    with_rogue = HcaTrust([pki.root_certificate()], [pki.rogue_certificate()], set())
    error = refusal(lambda: with_rogue.check_certificate(cert_der(UNTRUSTED), NOW))
    assert error.code == Code.HCA_UNTRUSTED_ISSUER


@pytest.mark.parametrize("ca", [pki.hca_certificate(), pki.root_certificate()], ids=["hca", "root"])
def test_a_ca_certificate_is_not_accepted_as_a_card_certificate(
    trust: HcaTrust, ca: x509.Certificate
) -> None:
    error = refusal(lambda: trust.check_certificate(der(ca), NOW))
    assert error.code == Code.HCA_UNTRUSTED_ISSUER


def test_untrusted_is_reported_before_validity(trust: HcaTrust) -> None:
    error = refusal(lambda: trust.check_certificate(cert_der(UNTRUSTED), dt.datetime(2000, 1, 1)))
    assert error.code == Code.HCA_UNTRUSTED_ISSUER


@pytest.mark.parametrize("blob", [b"", b"not a certificate", b"\x30\x03\x02\x01\x01"])
def test_bytes_that_are_no_certificate_are_refused_with_1420(trust: HcaTrust, blob: bytes) -> None:
    assert refusal(lambda: trust.check_certificate(blob, NOW)).code == Code.HCA_BAD_SIGNATURE


def test_a_revoked_certificate_is_refused_with_1424(trust: HcaTrust) -> None:
    error = refusal(lambda: trust.check_certificate(cert_der(REVOKED), NOW))
    assert error.code == Code.HCA_CERT_REVOKED


def test_a_serial_revoked_at_run_time_is_refused_with_1424(trust: HcaTrust) -> None:
    assert trust.check_certificate(cert_der(TESTER), NOW)
    trust.revoke(kit_certificate(TESTER).serial_number)
    assert trust.is_revoked(kit_certificate(TESTER).serial_number)
    error = refusal(lambda: trust.check_certificate(cert_der(TESTER), NOW))
    assert error.code == Code.HCA_CERT_REVOKED


def test_validity_is_reported_before_revocation(trust: HcaTrust) -> None:
    trust.revoke(kit_certificate(EXPIRED).serial_number)
    error = refusal(lambda: trust.check_certificate(cert_der(EXPIRED), NOW))
    assert error.code == Code.HCA_CERT_NOT_VALID_NOW


def test_the_kit_trust_takes_its_revocation_list_from_the_caller() -> None:
    nobody = HcaTrust.kit(revoked_card_ids=[])
    assert nobody.check_certificate(cert_der(REVOKED), NOW).card_id == REVOKED.card_id
    tester = HcaTrust.kit(revoked_card_ids=[TESTER.card_id])
    assert refusal(lambda: tester.check_certificate(cert_der(TESTER), NOW)).code == (
        Code.HCA_CERT_REVOKED
    )
    with pytest.raises(ValueError, match="not kit HPCs"):
        HcaTrust.kit(revoked_card_ids=["999999999999"])


# --- chains with more than one CA version ------------------------------------

SHORT_LIVED = (dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 1, tzinfo=dt.UTC))


def reissued_hca(validity: tuple[dt.datetime, dt.datetime], subject: x509.Name) -> x509.Certificate:
    """An HCA certificate with the kit's HCA key, under other dates and maybe another name."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(pki.root_certificate().subject)
        .public_key(rsa_key("pki-hca").public_key())
        .serial_number(77)
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(rsa_key("pki-root"), hashes.SHA256())
    )


def leaf_under(ca: x509.Certificate, person: HpcPerson) -> x509.Certificate:
    """A card certificate for ``person`` issued by ``ca`` (which holds the kit's HCA key)."""
    template = kit_certificate(person)
    return (
        x509.CertificateBuilder()
        .subject_name(template.subject)
        .issuer_name(ca.subject)
        .public_key(template.public_key())
        .serial_number(template.serial_number)
        .not_valid_before(template.not_valid_before_utc)
        .not_valid_after(template.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(rsa_key("pki-hca"), hashes.SHA256())
    )


def test_an_expired_ca_on_the_chain_is_refused_with_1422() -> None:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "short-lived HCA")])
    ca = reissued_hca(SHORT_LIVED, name)
    trust = HcaTrust([pki.root_certificate()], [ca], set())
    leaf = der(leaf_under(ca, TESTER))
    assert trust.check_certificate(leaf, dt.datetime(2024, 6, 1, tzinfo=dt.UTC)).serial
    error = refusal(lambda: trust.check_certificate(leaf, NOW))
    assert error.code == Code.HCA_CERT_NOT_VALID_NOW
    assert "short-lived HCA" in error.detail


def test_any_currently_valid_chain_will_do() -> None:
    # An expired copy of the HCA (same name, same key), listed before the current one.
    expired_hca = reissued_hca(SHORT_LIVED, pki.hca_certificate().subject)
    both = HcaTrust([pki.root_certificate()], [expired_hca, pki.hca_certificate()], set())
    assert both.check_certificate(cert_der(TESTER), NOW).card_id == TESTER.card_id
    only_expired = HcaTrust([pki.root_certificate()], [expired_hca], set())
    assert refusal(lambda: only_expired.check_certificate(cert_der(TESTER), NOW)).code == (
        Code.HCA_CERT_NOT_VALID_NOW
    )


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
