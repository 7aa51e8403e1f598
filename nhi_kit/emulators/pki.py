"""The kit's X.509 chain: test root → HCA intermediate → each HPC's certificate.

Built from the fixed test keys with fixed dates and serial numbers, so every
process builds byte-identical certificates (RSA PKCS#1 v1.5 is deterministic).
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from nhi_https.certificates import certificate_builder, key_usage
from nhi_kit.emulators.keys import rsa_key

ROOT_VALIDITY = (dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2050, 1, 1, tzinfo=dt.UTC))
CARD_VALIDITY = (dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2044, 1, 1, tzinfo=dt.UTC))
EXPIRED_VALIDITY = (dt.datetime(2010, 1, 1, tzinfo=dt.UTC), dt.datetime(2020, 1, 1, tzinfo=dt.UTC))


def _name(common_name: str, serial: str | None = None) -> x509.Name:
    parts = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "TW"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nhi-broker virtual card kit"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if serial:
        parts.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(parts)


def _ca_cert(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    serial: int,
) -> x509.Certificate:
    builder = (
        certificate_builder(subject, issuer, key, serial, ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(key_usage("key_cert_sign", "crl_sign"), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer != subject:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _self_signed_ca(key_name: str, common_name: str, serial: int) -> x509.Certificate:
    key = rsa_key(key_name)
    name = _name(common_name)
    return _ca_cert(name, key, name, key, serial=serial)


@cache
def root_certificate() -> x509.Certificate:
    """The kit's test root (plays GRCA)."""
    return _self_signed_ca("pki-root", "nhi-broker kit test root CA", serial=1)


@cache
def hca_certificate() -> x509.Certificate:
    """The HCA intermediate, signed by the test root."""
    return _ca_cert(
        _name("nhi-broker kit test HCA"),
        rsa_key("pki-hca"),
        root_certificate().subject,
        rsa_key("pki-root"),
        serial=2,
    )


@cache
def rogue_certificate() -> x509.Certificate:
    """A CA that calls itself the HCA but that no one trusts (for 1423)."""
    return _self_signed_ca("pki-rogue", "nhi-broker kit test HCA", serial=666)


@cache
def card_certificate(card_id: str, holder: str, kind: str = "valid") -> x509.Certificate:
    """An HPC's signing certificate, issued by the HCA intermediate.

    ``kind`` "expired" dates it 2010–2020; "untrusted" has the rogue CA sign
    it; "valid" and "revoked" (the DC's list decides) are ordinary.
    """
    key = rsa_key(f"hpc-{card_id}")
    issuer, hca_key = hca_certificate(), rsa_key("pki-hca")
    if kind == "untrusted":
        issuer, hca_key = rogue_certificate(), rsa_key("pki-rogue")
    validity = EXPIRED_VALIDITY if kind == "expired" else CARD_VALIDITY
    return (
        certificate_builder(
            _name(holder, card_id), issuer.subject, key, int(card_id) + 0x1000, validity
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage("digital_signature", "content_commitment"), critical=True)
        # cryptography's x509.verification refuses a leaf certificate without a SAN.
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"urn:nhi:hpc:{card_id}")]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(hca_key.public_key()),
            critical=False,
        )
        .sign(hca_key, hashes.SHA256())
    )
