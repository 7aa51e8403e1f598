"""TLS certificates: the broker's local CA and the server certificate it signs.

Browsers refuse a self-signed ``CA:TRUE`` certificate used as a server's
(Firefox: ``MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY``), so the broker
keeps a CA of its own (``ca.crt``; ``ca.key`` readable by the service alone)
and a short-lived server certificate signed by it (``server.crt``/``.key``),
re-issued before it expires or when the names it must carry change. Stations
trust the CA once; server certificates come and go beneath it.

``ensure_certificate`` is the data-centre simulator's plain self-signed pair.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import socket
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from broker.atomic import write_atomic

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
CA_VALIDITY = dt.timedelta(days=3650)
# Apple's clients refuse server certificates valid for more than 825 days, public
# CAs are held to 398; stay under both.
SERVER_VALIDITY = dt.timedelta(days=397)
RENEW_BEFORE = dt.timedelta(days=30)
BACKDATE = dt.timedelta(minutes=5)  # a station whose clock is a little behind still accepts it
CA_FILE, CA_KEY_FILE = "ca.crt", "ca.key"
SERVER_FILE, SERVER_KEY_FILE = "server.crt", "server.key"
CA_NAME = "nhi-broker local CA"  # every CA's common name starts so; then its host in brackets
MAX_COMMON_NAME = 64  # RFC 5280's ub-common-name

KEY_USAGES = (  # x509.KeyUsage's arguments, in RFC 5280's order
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _alt_names(names: Iterable[str]) -> list[x509.GeneralName]:
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name.lower()))
    return alt


def server_names(configured: Iterable[str] = ()) -> tuple[str, ...]:
    """The loopback names, then the configured ones (LAN host names and addresses), once each."""
    seen: dict[str, None] = {}
    for name in (*LOCAL_NAMES, *configured):
        try:
            seen.setdefault(str(ipaddress.ip_address(name)), None)
        except ValueError:
            seen.setdefault(name.lower(), None)
    return tuple(seen)


def _pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificate_builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    serial: int,
    validity: tuple[dt.datetime, dt.datetime],
) -> x509.CertificateBuilder:
    """A certificate's names, public key, serial number and validity; extensions to add."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: PrivateKey, now: dt.datetime, until: dt.datetime
) -> x509.CertificateBuilder:
    """A random serial, valid from a little before ``now`` to ``until``."""
    serial = x509.random_serial_number()
    return certificate_builder(subject, issuer, key, serial, (now - BACKDATE, until))


def key_usage(*granted: str) -> x509.KeyUsage:
    """A KeyUsage extension allowing ``granted`` (its argument names) and nothing else."""
    if not set(granted) <= set(KEY_USAGES):
        raise ValueError(f"not key usages: {sorted(set(granted) - set(KEY_USAGES))}")
    return x509.KeyUsage(**{usage: usage in granted for usage in KEY_USAGES})


def ca_common_name_for(host: str, made: dt.datetime, key: ec.EllipticCurvePublicKey) -> str:
    """``nhi-broker local CA (HOST, YYYY-MM-DD, KEY)``, at most 64 characters (RFC 5280).

    Browsers list a CA by this name (NSS: its nickname). The host tells one
    reader host's CA from another's; the date and the start of the key's
    SHA-256 tell apart two CAs of one host (two data directories, a CA made again).
    """
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tail = f", {made:%Y-%m-%d}, {hashlib.sha256(spki).hexdigest()[:8]})"
    room = MAX_COMMON_NAME - len(CA_NAME) - len(" (") - len(tail)
    return f"{CA_NAME} ({host[:room] or '?'}{tail}"


def make_ca(now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new CA that may sign server certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(ca_common_name_for(socket.gethostname(), now, key.public_key()))
    certificate = (
        _builder(subject, subject, key, now, now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage("key_cert_sign", "crl_sign"), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def make_server_certificate(
    ca: x509.Certificate, ca_key: PrivateKey, names: tuple[str, ...], now: dt.datetime
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A server certificate for ``names`` signed by ``ca``; RSA, where keyEncipherment fits."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    until = min(now + SERVER_VALIDITY, ca.not_valid_after_utc)
    # keyEncipherment: RSA key exchange (TLS 1.2 clients without ECDHE).
    usage = key_usage("digital_signature", "key_encipherment")
    certificate = (
        _builder(_name(names[0]), ca.subject, key, now, until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_alt_names(names)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return certificate, key


def _write_pair(cert_path: Path, key_path: Path, cert: x509.Certificate, key: PrivateKey) -> None:
    # Key first: a certificate on disk always has its key beside it.
    write_atomic(key_path, _pem(key), mode=0o600)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _read_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, PrivateKey] | None:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, PrivateKey):
        return None
    return cert, key


def _tls_directory(directory: Path) -> None:
    # 0755: desktop users read ca.crt to trust it (cert install); keys are 0600 each.
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)  # noqa: S103 - public certificates, private keys


class CertificateError(ValueError):
    """The CA on disk cannot be used; the message says what to do."""


def ensure_ca(directory: Path, now: dt.datetime | None = None) -> tuple[Path, Path]:
    """``ca.crt`` and ``ca.key`` in ``directory``: made when either is missing, then kept.

    A CA that is there but does not load is an error, never replaced: stations
    trust it, and a new one would make every station refuse the broker.
    """
    cert_path, key_path = directory / CA_FILE, directory / CA_KEY_FILE
    if not (cert_path.exists() and key_path.exists()):
        _tls_directory(directory)
        _write_pair(cert_path, key_path, *make_ca(now or dt.datetime.now(dt.UTC)))
    elif _read_pair(cert_path, key_path) is None:
        raise CertificateError(
            f"the CA in {directory} cannot be read (permissions, or damaged files): run as "
            f"its owner, or restore {CA_FILE} and {CA_KEY_FILE} from a backup"
        )
    return cert_path, key_path


def _still_good(
    server: x509.Certificate, ca: x509.Certificate, names: tuple[str, ...], now: dt.datetime
) -> bool:
    """Signed by this CA, for exactly these names, and not about to expire."""
    if server.issuer != ca.subject:
        return False
    try:
        server.verify_directly_issued_by(ca)
        alt = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    wanted = {str(n.value) for n in _alt_names(names)}
    return {str(n.value) for n in alt} == wanted and server.not_valid_after_utc - now > RENEW_BEFORE


def renewal_due(directory: Path, names: Iterable[str] = (), now: dt.datetime | None = None) -> bool:
    """Whether ``ensure_server_certificate`` would make the server certificate again."""
    now = now or dt.datetime.now(dt.UTC)
    try:  # the certificates only: whoever may read them can tell
        ca = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
        server = x509.load_pem_x509_certificate((directory / SERVER_FILE).read_bytes())
    except (OSError, ValueError):
        return True
    return not _still_good(server, ca, server_names(names), now)


def ensure_server_certificate(
    directory: Path, names: Iterable[str] = (), now: dt.datetime | None = None
) -> tuple[Path, Path]:
    """``server.crt`` and ``server.key`` for the loopback names and ``names``, signed by the CA.

    Kept while good; re-issued when missing, near expiry, signed by another CA,
    or made for other names.
    """
    now = now or dt.datetime.now(dt.UTC)
    wanted = server_names(names)
    ca_cert_path, ca_key_path = ensure_ca(directory, now)
    loaded = _read_pair(ca_cert_path, ca_key_path)
    if loaded is None:
        raise CertificateError(f"the CA in {directory} cannot be read")
    ca, ca_key = loaded
    cert_path, key_path = directory / SERVER_FILE, directory / SERVER_KEY_FILE
    current = _read_pair(cert_path, key_path)
    if current is None or not _still_good(current[0], ca, wanted, now):
        _write_pair(cert_path, key_path, *make_server_certificate(ca, ca_key, wanted, now))
    return cert_path, key_path


def load_ca(directory: Path) -> x509.Certificate:
    """The CA certificate (``ca.crt``) alone, as any user may read it."""
    path = directory / CA_FILE
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        raise CertificateError(f"the CA {path} cannot be read: {exc.strerror}") from exc
    except ValueError as exc:
        raise CertificateError(f"the CA {path} is damaged: restore it from a backup") from exc


def ca_der(directory: Path) -> bytes:
    """The CA certificate in DER, as Windows' certificate import and macOS take it too."""
    return load_ca(directory).public_bytes(serialization.Encoding.DER)


def ca_common_name(directory: Path) -> str:
    """The CA's common name: its nickname in NSS databases."""
    names = load_ca(directory).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else CA_NAME


def make_self_signed(common_name: str, names: tuple[str, ...] = LOCAL_NAMES) -> tuple[bytes, bytes]:
    """A new EC P-256 key and a self-signed certificate for ``names``; both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(common_name)
    now = dt.datetime.now(dt.UTC)
    certificate = (
        _builder(subject, subject, key, now, now + CA_VALIDITY)
        .add_extension(x509.SubjectAlternativeName(_alt_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM), _pem(key)


def ensure_certificate(
    directory: Path, stem: str, names: tuple[str, ...] = LOCAL_NAMES
) -> tuple[Path, Path]:
    """``<stem>.crt`` and ``<stem>.key`` in ``directory``, self-signed: made on first use, kept.

    For the data-centre simulator, whose client trusts this very file.
    """
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    if not (cert_path.exists() and key_path.exists()):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert_pem, key_pem = make_self_signed(f"nhi-broker {stem}", names)
        write_atomic(key_path, key_pem, mode=0o600)
        write_atomic(cert_path, cert_pem, mode=0o644)
    return cert_path, key_path
