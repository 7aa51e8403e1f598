"""The DC simulator's HCA certificate checks: validity, chains to the root, revocation.

Each refusal carries its code: 1420 no certificate, 1422 not valid now, 1423 untrusted
issuer, 1424 revoked; and chains through more than one version of the HCA.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from broker.codes import Code
from nhi_kit.emulators import pki
from nhi_kit.emulators.dc.hca import HcaHolder, HcaTrust, kit_certificate
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
    der,
    refusal,
)

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
