"""``nhi-broker cert install`` finds every browser's NSS database of the user: Chromium's and
each Firefox profile that a ``profiles.ini`` lists (XDG, legacy, snap, flatpak), and
replaces the CA it trusted there before. Real certutil; Firefox itself in
tests/console/test_https_trust.py."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nhi_broker.serve import certificate_paths
from nhi_https.certificates import ca_common_name, certificate_builder, key_usage
from tests.nss import add_to_nss, new_nss_database, nss_trust, user_env
from tests.serving import NHI_BROKER

FIREFOX_ROOTS = {
    "xdg": ".config/mozilla/firefox",
    "legacy": ".mozilla/firefox",
    "snap": "snap/firefox/common/.mozilla/firefox",
    "flatpak": ".var/app/org.mozilla.firefox/.mozilla/firefox",
    "flatpak-xdg": ".var/app/org.mozilla.firefox/config/mozilla/firefox",
}


def cert_install(
    tmp_path: Path, home: Path, data: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NHI_BROKER, "cert", "install", "--root", str(tmp_path / "root"), "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**user_env(home), **env},
    )


def profiles_ini(root: Path, *paths: str | Path) -> list[Path]:
    """``root/profiles.ini`` listing ``paths`` as Firefox writes it: relative, or absolute."""
    root.mkdir(parents=True, exist_ok=True)
    sections = []
    for number, path in enumerate(paths):
        relative = not Path(path).is_absolute()
        sections.append(
            f"[Profile{number}]\nName=p{number}\nIsRelative={int(relative)}\nPath={path}\n"
        )
    (root / "profiles.ini").write_text("\n".join([*sections, "[General]\nVersion=2\n"]))
    return [root / path for path in paths]


def write_ca(tls: Path, common_name: str) -> Path:
    """A CA as the broker makes them, named ``common_name`` (as earlier releases named theirs)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    validity = (now - dt.timedelta(minutes=5), now + dt.timedelta(days=3650))
    ca = (
        certificate_builder(subject, subject, key, x509.random_serial_number(), validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage("key_cert_sign", "crl_sign"), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    tls.mkdir(parents=True)
    (tls / "ca.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tls / "ca.key").chmod(0o600)
    (tls / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return tls / "ca.crt"


def test_cert_install_trusts_the_ca_in_every_profile_each_profiles_ini_lists(
    tmp_path: Path, home: Path, data: Path
) -> None:
    elsewhere = new_nss_database(tmp_path / "profiles" / "work")  # IsRelative=0
    listed = []
    for key, root in FIREFOX_ROOTS.items():
        more = ("a1.default", elsewhere) if key == "legacy" else ()
        listed.append(new_nss_database(profiles_ini(home / root, f"{key}.default", *more)[0]))
    never_opened = home / FIREFOX_ROOTS["legacy"] / "a1.default"
    never_opened.mkdir()  # as 'firefox -CreateProfile' leaves it: no database until Firefox runs
    unlisted = new_nss_database(home / FIREFOX_ROOTS["legacy"] / "b2.old")  # in no profiles.ini
    for _ in range(2):  # a second run replaces the entries, never adds more
        done = cert_install(tmp_path, home, data)
        assert done.returncode == 0, done.stderr
    nickname = ca_common_name(data / "tls")
    trusting = [home / ".pki" / "nssdb", *listed, elsewhere, never_opened]
    for database in trusting:
        assert nss_trust(database) == {nickname: "C,,"}, database
        assert f"in {database} (" in done.stderr
    assert nss_trust(unlisted) == {}
    assert "no Firefox profile" not in done.stderr


def test_cert_install_reads_the_profiles_of_xdg_config_home(
    tmp_path: Path, home: Path, data: Path
) -> None:
    config = tmp_path / "config"
    [profile] = profiles_ini(config / "mozilla" / "firefox", "x9.default-esr")
    new_nss_database(profile)
    done = cert_install(tmp_path, home, data, XDG_CONFIG_HOME=str(config))
    assert done.returncode == 0, done.stderr
    assert nss_trust(profile) == {ca_common_name(data / "tls"): "C,,"}


def test_cert_install_says_plainly_when_it_finds_no_firefox_profile(
    tmp_path: Path, home: Path, data: Path
) -> None:
    new_nss_database(home / ".mozilla" / "firefox" / "c3.default")  # in no profiles.ini
    done = cert_install(tmp_path, home, data)
    assert done.returncode == 0, done.stderr
    assert "no Firefox profile found" in done.stderr
    for root in (".config/mozilla/firefox", ".mozilla/firefox"):
        assert str(home / root) in done.stderr
    assert not (home / ".config").exists()
    assert (home / ".pki" / "nssdb" / "cert9.db").exists()  # Chromium's: made as Chromium does


def test_cert_install_names_a_listed_profile_that_is_missing_and_trusts_the_others(
    tmp_path: Path, home: Path, data: Path
) -> None:
    root = home / ".config" / "mozilla" / "firefox"
    gone, kept = profiles_ini(root, "d4.gone", "e5.kept")
    new_nss_database(kept)
    done = cert_install(tmp_path, home, data)
    assert done.returncode == 0, done.stderr
    assert f"{gone} is missing" in done.stderr
    assert not gone.exists()
    assert nss_trust(kept) == {ca_common_name(data / "tls"): "C,,"}


def test_cert_install_replaces_this_hosts_earlier_cas_and_keeps_other_hosts(
    tmp_path: Path, home: Path, data: Path
) -> None:
    host = socket.gethostname()
    chromium = new_nss_database(home / ".pki" / "nssdb")
    # what cert install put there before: the CA of an earlier release, and one of an
    # earlier data directory of this host; beside them another reader host's CA
    earlier = [
        f"nhi-broker local CA ({host})",
        f"nhi-broker local CA ({host}, 2025-01-02, 0123abcd)",
        "nhi-broker local CA (other-host)",
    ]
    for number, nickname in enumerate(earlier):
        add_to_nss(chromium, nickname, write_ca(tmp_path / f"ca{number}" / "tls", nickname))
    done = cert_install(tmp_path, home, data)
    assert done.returncode == 0, done.stderr
    ours = ca_common_name(data / "tls")
    assert nss_trust(chromium) == {ours: "C,,", "nhi-broker local CA (other-host)": "C,,"}
    assert f"removed 'nhi-broker local CA ({host})'" in done.stderr


def test_a_ca_of_an_earlier_release_is_kept_and_trusted_under_its_own_name(
    tmp_path: Path, home: Path
) -> None:
    host = socket.gethostname()
    data = tmp_path / "data"
    old = write_ca(data / "tls", f"nhi-broker local CA ({host})")
    before = old.read_bytes()
    chromium = new_nss_database(home / ".pki" / "nssdb")
    add_to_nss(chromium, f"nhi-broker local CA ({host})", old)  # the earlier release's install
    server, _key = certificate_paths(data)  # serve at its first start after the upgrade
    assert old.read_bytes() == before
    issued = x509.load_pem_x509_certificate(server.read_bytes())
    issued.verify_directly_issued_by(x509.load_pem_x509_certificate(before))
    done = cert_install(tmp_path, home, data)
    assert done.returncode == 0, done.stderr
    assert nss_trust(chromium) == {f"nhi-broker local CA ({host})": "C,,"}


def test_a_firefox_database_with_a_password_is_named_and_the_others_still_trust_it(
    tmp_path: Path, home: Path, data: Path
) -> None:
    locked, free = profiles_ini(home / ".mozilla" / "firefox", "f6.locked", "g7.free")
    locked.mkdir(parents=True)
    new_nss_database(free)
    (tmp_path / "password").write_text("primary password\n")
    subprocess.run(
        ["certutil", "-N", "-d", f"sql:{locked}", "-f", str(tmp_path / "password")], check=True
    )
    done = cert_install(tmp_path, home, data)
    assert done.returncode == 2
    assert f"not trusted in {locked}" in done.stderr
    assert "Primary Password" in done.stderr
    assert nss_trust(free) == {ca_common_name(data / "tls"): "C,,"}
    assert nss_trust(home / ".pki" / "nssdb") == {ca_common_name(data / "tls"): "C,,"}
