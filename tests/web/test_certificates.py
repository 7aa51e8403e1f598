"""The local CA and its server certificate, checked by NSS's own verifier (Firefox's)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from nhi_broker.serve import certificate_paths
from nhi_https.certificates import (
    RENEW_BEFORE,
    SERVER_VALIDITY,
    CertificateError,
    ca_common_name,
    ca_common_name_for,
    ensure_server_certificate,
    make_self_signed,
)

LAN_NAME = "reader-host.clinic.test"
LAN_ADDRESS = "192.168.10.5"


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def certutil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["certutil", *args], capture_output=True, text=True, timeout=30, check=False
    )


def nss_db_trusting(directory: Path, ca: Path) -> str:
    """A fresh NSS database holding only ``ca``, trusted to issue TLS server certificates."""
    directory.mkdir()
    database = f"sql:{directory}"
    assert certutil("-N", "-d", database, "--empty-password").returncode == 0
    added = certutil("-A", "-d", database, "-n", "local-ca", "-t", "C,,", "-i", str(ca))
    assert added.returncode == 0, added.stderr
    return database


def nss_verifies_as_server(database: str, certificate: Path) -> subprocess.CompletedProcess[str]:
    """``certutil -V -u V``: NSS's check that ``certificate`` may serve TLS (as Firefox does)."""
    added = certutil("-A", "-d", database, "-n", "served", "-t", ",,", "-i", str(certificate))
    assert added.returncode == 0, added.stderr
    return certutil("-V", "-d", database, "-n", "served", "-u", "V")


def test_nss_accepts_the_served_certificate_with_only_the_local_ca_trusted(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    cert, _key = certificate_paths(data_dir, names=[LAN_NAME])
    database = nss_db_trusting(tmp_path / "nss", data_dir / "tls" / "ca.crt")
    verified = nss_verifies_as_server(database, cert)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "certificate is valid" in verified.stdout


def test_nss_refuses_a_self_signed_ca_certificate_used_as_the_server_certificate(
    tmp_path: Path,
) -> None:
    old_pem, _key = make_self_signed("nhi-broker localhost")  # what the broker served before
    old = tmp_path / "old.crt"
    old.write_bytes(old_pem)
    database = nss_db_trusting(tmp_path / "nss", old)  # trusted, as a user would have done
    refused = certutil("-V", "-d", database, "-n", "local-ca", "-u", "V")
    assert refused.returncode != 0, refused.stdout
    assert "not approved" in refused.stdout + refused.stderr


def test_the_server_certificate_is_an_end_entity_for_tls_servers_naming_loopback_and_lan(
    tmp_path: Path,
) -> None:
    cert_path, _ = certificate_paths(tmp_path, names=[LAN_NAME, LAN_ADDRESS])
    cert = load(cert_path)
    ca = load(tmp_path / "tls" / "ca.crt")
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.key_encipherment
    assert not usage.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(DNSName)) == {"localhost", LAN_NAME}
    assert set(san.get_values_for_type(IPAddress)) == {
        ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", LAN_ADDRESS)
    }
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    # cryptography's RFC 5280 verifier agrees for every name a station may use
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(DNSName(LAN_NAME))
    assert verifier.verify(cert, [])[-1] == ca


def test_the_ca_key_and_the_server_key_are_the_owners_alone(tmp_path: Path) -> None:
    certificate_paths(tmp_path)
    tls = tmp_path / "tls"
    for key in ("ca.key", "server.key"):
        assert stat.S_IMODE((tls / key).stat().st_mode) == 0o600
    for public in ("ca.crt", "server.crt"):
        assert stat.S_IMODE((tls / public).stat().st_mode) == 0o644


def test_the_server_certificate_is_kept_until_it_nears_expiry_then_renewed_by_the_same_ca(
    tmp_path: Path,
) -> None:
    start = dt.datetime.now(dt.UTC)
    first = ensure_server_certificate(tmp_path, now=start)[0].read_bytes()
    ca = (tmp_path / "ca.crt").read_bytes()
    later = start + SERVER_VALIDITY - RENEW_BEFORE - dt.timedelta(days=1)
    assert ensure_server_certificate(tmp_path, now=later)[0].read_bytes() == first
    near_expiry = start + SERVER_VALIDITY - RENEW_BEFORE + dt.timedelta(days=1)
    renewed_path = ensure_server_certificate(tmp_path, now=near_expiry)[0]
    assert renewed_path.read_bytes() != first
    renewed = load(renewed_path)
    assert renewed.not_valid_after_utc > near_expiry + RENEW_BEFORE
    assert (tmp_path / "ca.crt").read_bytes() == ca  # stations keep trusting it


@pytest.mark.parametrize("names", [[LAN_NAME], [LAN_NAME, "10.0.0.9"], []])
def test_a_changed_list_of_names_reissues_the_server_certificate(
    tmp_path: Path, names: list[str]
) -> None:
    first = ensure_server_certificate(tmp_path, ["old-name.clinic.test"])[0].read_bytes()
    again = ensure_server_certificate(tmp_path, ["old-name.clinic.test"])[0].read_bytes()
    assert again == first
    changed = load(ensure_server_certificate(tmp_path, names)[0])
    san = changed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "old-name.clinic.test" not in san.get_values_for_type(DNSName)
    assert set(names) <= {str(v) for v in san.get_values_for_type(DNSName)} | {
        str(v) for v in san.get_values_for_type(IPAddress)
    }


def test_a_server_certificate_left_by_another_ca_is_replaced(tmp_path: Path) -> None:
    ensure_server_certificate(tmp_path)
    (tmp_path / "ca.crt").unlink()  # a new CA, e.g. after a restore without the CA key
    cert = load(ensure_server_certificate(tmp_path)[0])
    cert.verify_directly_issued_by(load(tmp_path / "ca.crt"))


def test_a_damaged_ca_is_an_error_never_replaced_behind_the_stations_back(tmp_path: Path) -> None:
    ensure_server_certificate(tmp_path)
    ca = tmp_path / "ca.crt"
    ca.write_bytes(b"not a certificate")
    with pytest.raises(CertificateError, match=r"restore ca\.crt and ca\.key"):
        ensure_server_certificate(tmp_path)
    assert ca.read_bytes() == b"not a certificate"


def test_two_cas_made_on_one_host_have_names_that_tell_them_apart(tmp_path: Path) -> None:
    made = dt.datetime.now(dt.UTC)
    names = []
    for data_dir in (tmp_path / "service", tmp_path / "forgotten-data-dir"):
        certificate_paths(data_dir)
        names.append(ca_common_name(data_dir / "tls"))
    assert names[0] != names[1]  # each is its own nickname in an NSS database
    # the host tells reader hosts apart, the date and the key's hash a host's CAs
    for name in names:
        host, day, key = name.removeprefix("nhi-broker local CA (").removesuffix(")").split(", ")
        assert (host, day, len(key)) == (socket.gethostname(), f"{made:%Y-%m-%d}", 8)


def test_a_long_host_name_is_shortened_to_fit_a_common_name(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    name = ca_common_name_for("reader-host-" + "x" * 80, dt.datetime.now(dt.UTC), key)
    assert len(name) == 64  # RFC 5280's upper bound
    assert name.startswith("nhi-broker local CA (reader-host-xx")
    assert name.endswith(")")
