"""``nhi-broker cert install`` and ``cert export``: the CA into the system store (a temporary
root), every NSS database of the user, and files for Windows and macOS stations."""

from __future__ import annotations

import datetime as dt
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from nhi_broker.serve import certificate_paths
from nhi_https.certificates import RENEW_BEFORE, SERVER_VALIDITY, ensure_server_certificate
from tests.serving import NHI_BROKER, sim_config_with_names


def nhi_broker(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NHI_BROKER, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "HOME": str(home)},
    )


def nss_trust(database: Path) -> dict[str, str]:
    """Nickname → trust flags of every certificate in an NSS database."""
    listed = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{database}"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.rsplit(None, 1) for line in listed.stdout.splitlines()[4:] if line.strip()]
    return {name.strip(): flags for name, flags in rows}


def make_firefox_profile(home: Path, name: str) -> Path:
    profile = home / ".mozilla" / "firefox" / name
    profile.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{profile}", "--empty-password"], check=True)
    return profile


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def test_cert_install_adds_the_ca_to_the_system_store_of_the_root(
    tmp_path: Path, home: Path
) -> None:
    root, data = tmp_path / "root", tmp_path / "data"
    done = nhi_broker("cert", "install", "--root", str(root), "--data-dir", str(data), home=home)
    assert done.returncode == 0, done.stderr
    ca = (data / "tls" / "ca.crt").read_bytes()
    local = root / "usr" / "local" / "share" / "ca-certificates" / "nhi-broker-ca.crt"
    assert local.read_bytes() == ca
    assert oct(local.stat().st_mode & 0o777) == "0o644"
    # update-ca-certificates put it into the bundle programs read (OpenSSL, curl, Python)
    bundle = root / "etc" / "ssl" / "certs" / "ca-certificates.crt"
    assert ca.decode().strip() in bundle.read_text()
    ssl.create_default_context(cafile=str(bundle))  # a bundle OpenSSL loads
    assert (root / "etc" / "ssl" / "certs" / "nhi-broker-ca.pem").resolve() == local


def test_cert_install_trusts_the_ca_in_chromiums_and_every_firefox_profiles_database(
    tmp_path: Path, home: Path
) -> None:
    profiles = [make_firefox_profile(home, n) for n in ("a1b2.default-release", "c3d4.work")]
    data = tmp_path / "data"
    for _ in range(2):  # a second run replaces the entries, never adds more
        done = nhi_broker(
            "cert", "install", "--root", str(tmp_path / "root"), "--data-dir", str(data), home=home
        )
        assert done.returncode == 0, done.stderr
    for database in [home / ".pki" / "nssdb", *profiles]:
        trusted = nss_trust(database)
        assert len(trusted) == 1, trusted
        [(nickname, flags)] = trusted.items()
        assert nickname.startswith("nhi-broker local CA")
        assert flags == "C,,"


def test_cert_install_leaves_firefox_alone_when_it_has_no_profile(
    tmp_path: Path, home: Path
) -> None:
    done = nhi_broker(
        "cert", "install", "--root", str(tmp_path / "r"), "--data-dir", str(tmp_path / "d"),
        home=home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not (home / ".mozilla").exists()
    assert (home / ".pki" / "nssdb" / "cert9.db").exists()


@pytest.mark.parametrize("fmt", ["pem", "der"])
def test_cert_export_writes_the_ca_for_windows_and_macos_stations(
    tmp_path: Path, home: Path, fmt: str
) -> None:
    data, out = tmp_path / "data", tmp_path / f"nhi-broker-ca.{fmt}"
    done = nhi_broker(
        "cert", "export", "--data-dir", str(data), "--out", str(out), "--format", fmt, home=home
    )
    assert done.returncode == 0, done.stderr
    ca = x509.load_pem_x509_certificate((data / "tls" / "ca.crt").read_bytes())
    load = x509.load_der_x509_certificate if fmt == "der" else x509.load_pem_x509_certificate
    assert load(out.read_bytes()) == ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_cert_export_never_writes_a_key(tmp_path: Path, home: Path) -> None:
    shown = nhi_broker("cert", "export", "--data-dir", str(tmp_path), home=home)
    assert shown.returncode == 0, shown.stderr
    assert "PRIVATE KEY" not in shown.stdout
    assert shown.stdout.count("BEGIN CERTIFICATE") == 1


def test_cert_renewal_due_says_not_due_for_a_fresh_certificate_and_due_near_expiry(
    tmp_path: Path, home: Path
) -> None:
    tls = tmp_path / "tls"
    issued = dt.datetime.now(dt.UTC) - SERVER_VALIDITY + RENEW_BEFORE - dt.timedelta(days=1)
    ensure_server_certificate(tls, now=issued)  # 29 days left: inside the renewal window
    due = nhi_broker("cert", "renewal-due", "--data-dir", str(tmp_path), home=home)
    assert (due.returncode, due.stdout.strip()) == (0, "due")
    certificate_paths(tmp_path)  # what serve does at start: a new one
    fresh = nhi_broker("cert", "renewal-due", "--data-dir", str(tmp_path), home=home)
    assert (fresh.returncode, fresh.stdout.strip()) == (1, "not due")


def test_cert_renewal_due_when_the_configured_names_changed(tmp_path: Path, home: Path) -> None:
    data = tmp_path / "data"
    certificate_paths(data)
    toml = sim_config_with_names(tmp_path / "broker.toml", ["reader-host.clinic.test"])
    args = ["cert", "renewal-due", "--config", str(toml), "--data-dir", str(data)]
    assert nhi_broker(*args, home=home).returncode == 0
    certificate_paths(data, names=["reader-host.clinic.test"])
    assert nhi_broker(*args, home=home).returncode == 1


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory other users can reach (pytest's own are root's alone)."""
    directory = Path(tempfile.mkdtemp(prefix="nhi-broker-shared-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


def as_nobody(*command: str, home: Path) -> subprocess.CompletedProcess[str]:
    """``command`` as the unprivileged user nobody, as a desktop user would run it."""
    return subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "HOME": str(home)},
    )


def test_a_desktop_user_trusts_the_services_ca_without_reading_its_key(
    shared_dir: Path,
) -> None:
    data = shared_dir / "data"
    certificate_paths(data)  # as the service made it
    home = shared_dir / "home"
    home.mkdir()
    shutil.chown(home, "nobody")
    # the live root below is safe only unprivileged: make sure the switch happened
    assert as_nobody("id", "-u", home=home).stdout.strip() == str(pwd.getpwnam("nobody").pw_uid)
    runs = as_nobody(str(NHI_BROKER), "--version", home=home)
    assert runs.returncode == 0, (
        f"nobody cannot run {NHI_BROKER} ({runs.stderr.strip()}): this test needs the checkout "
        "and its .venv readable by other users, as an installed service needs them"
    )
    refused = as_nobody("cat", str(data / "tls" / "ca.key"), home=home)
    assert refused.returncode != 0
    assert "Permission denied" in refused.stderr
    # the live root: an unprivileged user leaves the system store alone and says how
    done = as_nobody(str(NHI_BROKER), "cert", "install", "--data-dir", str(data), home=home)
    assert done.returncode == 0, done.stderr
    assert "sudo nhi-broker cert install" in done.stderr
    [(nickname, flags)] = nss_trust(home / ".pki" / "nssdb").items()
    assert nickname.startswith("nhi-broker local CA")
    assert flags == "C,,"
