"""A self-signed TLS certificate for the local HTTPS servers, made once and kept."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from broker.atomic import write_atomic

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
VALIDITY = dt.timedelta(days=3650)


def _alt_names(names: tuple[str, ...]) -> list[x509.GeneralName]:
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    return alt


def make_self_signed(common_name: str, names: tuple[str, ...] = LOCAL_NAMES) -> tuple[bytes, bytes]:
    """A new EC P-256 key and a self-signed certificate for ``names``; both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(_alt_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_certificate(
    directory: Path, stem: str, names: tuple[str, ...] = LOCAL_NAMES
) -> tuple[Path, Path]:
    """``<stem>.crt`` and ``<stem>.key`` in ``directory``: made on first use, then kept."""
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    if not (cert_path.exists() and key_path.exists()):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert_pem, key_pem = make_self_signed(f"nhi-broker {stem}", names)
        write_atomic(key_path, key_pem, mode=0o600)
        write_atomic(cert_path, cert_pem, mode=0o644)
    return cert_path, key_path
