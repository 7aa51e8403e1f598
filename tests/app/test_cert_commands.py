"""``nhi-broker cert install`` and ``cert export``: the CA into the system store (a temporary
root), every NSS database of the user, and files for Windows and macOS stations. Both read
the CA that ``serve`` made and never make one."""

from __future__ import annotations

import datetime as dt
import json
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
from nhi_https.certificates import (
    RENEW_BEFORE,
    SERVER_VALIDITY,
    ca_common_name,
    ensure_server_certificate,
)
from tests.nss import nss_trust, user_env
from tests.program_copy import copy_program
from tests.serving import DEFAULT_TOML, NHI_BROKER, sim_config_with_names


def nhi_broker(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NHI_BROKER, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=user_env(home),
    )


def test_cert_install_adds_the_ca_to_the_system_store_of_the_root(
    tmp_path: Path, home: Path, data: Path
) -> None:
    root = tmp_path / "root"
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


def test_cert_install_trusts_the_ca_in_chromiums_database(
    tmp_path: Path, home: Path, data: Path
) -> None:
    for _ in range(2):  # a second run replaces the entry, never adds another
        done = nhi_broker(
            "cert", "install", "--root", str(tmp_path / "root"), "--data-dir", str(data), home=home
        )
        assert done.returncode == 0, done.stderr
    [(nickname, flags)] = nss_trust(home / ".pki" / "nssdb").items()
    assert nickname == ca_common_name(data / "tls")
    assert flags == "C,,"


@pytest.mark.parametrize(
    "command", [["install", "--root"], ["export", "--out"], ["export", "--nss"]]
)
def test_cert_commands_refuse_a_data_dir_without_a_ca_and_make_none(
    tmp_path: Path, home: Path, command: list[str]
) -> None:
    empty = tmp_path / "not-the-services"
    where = [str(tmp_path / "root")] if command[1] != "--nss" else []  # --root DIR, --out FILE
    done = nhi_broker("cert", *command, *where, "--data-dir", str(empty), home=home)
    assert done.returncode == 2
    assert f"no CA in {empty / 'tls'}" in done.stderr
    assert "--data-dir" in done.stderr
    assert "Traceback" not in done.stderr
    assert not empty.exists()
    assert not (home / ".pki").exists()
    assert not (tmp_path / "root").exists()


def test_cert_commands_read_the_data_dir_of_the_config_and_name_it_when_it_has_no_ca(
    tmp_path: Path, home: Path, data: Path
) -> None:
    toml = tmp_path / "broker.toml"
    toml.write_text(
        DEFAULT_TOML.read_text().replace(
            "[server]\n", f"[server]\ndata_dir = {json.dumps(str(data))}\n", 1
        )
    )
    shown = nhi_broker("cert", "export", "--config", str(toml), home=home)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == (data / "tls" / "ca.crt").read_text()
    shutil.rmtree(data / "tls")
    refused = nhi_broker("cert", "export", "--config", str(toml), home=home)
    assert refused.returncode == 2
    assert f"no CA in {data / 'tls'}" in refused.stderr


@pytest.mark.parametrize("fmt", ["pem", "der"])
def test_cert_export_writes_the_ca_for_windows_and_macos_stations(
    tmp_path: Path, home: Path, data: Path, fmt: str
) -> None:
    out = tmp_path / f"nhi-broker-ca.{fmt}"
    done = nhi_broker(
        "cert", "export", "--data-dir", str(data), "--out", str(out), "--format", fmt, home=home
    )
    assert done.returncode == 0, done.stderr
    ca = x509.load_pem_x509_certificate((data / "tls" / "ca.crt").read_bytes())
    load = x509.load_der_x509_certificate if fmt == "der" else x509.load_pem_x509_certificate
    assert load(out.read_bytes()) == ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_cert_export_never_writes_a_key(home: Path, data: Path) -> None:
    shown = nhi_broker("cert", "export", "--data-dir", str(data), home=home)
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
    """A directory other users can reach (pytest's own may be private to root)."""
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
        env=user_env(home),
    )


def test_a_desktop_user_trusts_the_services_ca_without_reading_its_key(
    shared_dir: Path,
) -> None:
    data = shared_dir / "data"
    certificate_paths(data)  # as the service made it
    home = shared_dir / "home"
    home.mkdir()
    shutil.chown(home, "nobody")
    # the checkout may be private to its owner (/root, mktemp -d): nobody runs a copy
    program = copy_program(shared_dir / "program")
    # the live root below is safe only unprivileged: make sure the switch happened
    assert as_nobody("id", "-u", home=home).stdout.strip() == str(pwd.getpwnam("nobody").pw_uid)
    runs = as_nobody(str(program), "--version", home=home)
    assert runs.returncode == 0, runs.stderr
    refused = as_nobody("cat", str(data / "tls" / "ca.key"), home=home)
    assert refused.returncode != 0
    assert "Permission denied" in refused.stderr
    # the live root: an unprivileged user leaves the system store alone and says how
    done = as_nobody(str(program), "cert", "install", "--data-dir", str(data), home=home)
    assert done.returncode == 0, done.stderr
    assert "sudo nhi-broker cert install" in done.stderr
    [(nickname, flags)] = nss_trust(home / ".pki" / "nssdb").items()
    assert nickname == ca_common_name(data / "tls")
    assert flags == "C,,"
