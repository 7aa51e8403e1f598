"""``nhi-broker install`` / ``uninstall`` into a temporary root, and the unit they install
checked by systemd's own ``systemd-analyze verify``."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from nhi_broker.service import ServiceError, packaged, require_reachable
from nhi_https.certificates import make_self_signed
from tests.serving import NHI_BROKER

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "hardware.example.toml"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")
SYSTEMCTL = Path("/usr/bin/systemctl")
USER = "nhi-broker"


def nhi_broker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NHI_BROKER, *args], capture_output=True, text=True, timeout=60, check=False
    )


def installed(root: Path) -> subprocess.CompletedProcess[str]:
    done = nhi_broker("install", "--root", str(root))
    assert done.returncode == 0, done.stderr
    return done


def user_ids(root: Path) -> tuple[int, int]:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        name, _, uid, gid, _gecos, home, shell = line.split(":")
        if name == USER:
            assert (home, shell) == ("/var/lib/nhi-broker", "/usr/sbin/nologin")
            return int(uid), int(gid)
    raise AssertionError(f"no {USER} in {root}/etc/passwd")


def files_and_modes(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root)): stat.S_IMODE(path.stat().st_mode)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


EXPECTED = {
    "etc/sysusers.d/nhi-broker.conf": 0o644,
    "etc/nhi-broker/config.toml": 0o644,
    "etc/systemd/system/nhi-broker.service": 0o644,
    "etc/systemd/system/nhi-broker-renew.service": 0o644,
    "etc/systemd/system/nhi-broker-renew.timer": 0o644,
    "usr/local/bin/nhi-broker": 0o755,
    "usr/local/share/applications/nhi-broker-console.desktop": 0o644,
    "usr/local/share/applications/mimeinfo.cache": 0o644,
    "var/lib/nhi-broker/tls/ca.crt": 0o644,
    "var/lib/nhi-broker/tls/ca.key": 0o600,
    "var/lib/nhi-broker/tls/server.crt": 0o644,
    "var/lib/nhi-broker/tls/server.key": 0o600,
}
USER_DATABASE = {"etc/passwd", "etc/group", "etc/shadow", "etc/gshadow", "etc/.pwd.lock"}


def test_install_lays_out_every_file_with_its_mode(tmp_path: Path) -> None:
    root = tmp_path / "root"
    done = installed(root)
    found = files_and_modes(root)
    assert set(found) - USER_DATABASE == set(EXPECTED)
    assert {p: found[p] for p in EXPECTED} == EXPECTED
    assert "systemctl was not run" in done.stderr  # not the live root


def test_install_makes_a_system_user_in_dialout_owning_the_data(tmp_path: Path) -> None:
    root = tmp_path / "root"
    installed(root)
    uid, gid = user_ids(root)
    groups = {line.split(":")[0]: line.split(":")[3] for line in (root / "etc/group").open()}
    assert USER in groups["dialout"].strip().split(",")
    data = root / "var" / "lib" / "nhi-broker"
    assert stat.S_IMODE(data.stat().st_mode) == 0o755
    for path in [data, data / "tls", *(data / "tls").iterdir()]:
        assert (path.stat().st_uid, path.stat().st_gid) == (uid, gid), path
    for setup in ("etc/nhi-broker/config.toml", "etc/systemd/system/nhi-broker.service"):
        assert (root / setup).stat().st_uid == 0  # the service cannot rewrite its own setup


def test_install_ships_the_unit_the_example_config_and_a_working_program(tmp_path: Path) -> None:
    root = tmp_path / "root"
    installed(root)
    assert (root / "etc/systemd/system/nhi-broker.service").read_bytes() == packaged(
        "nhi-broker.service"
    )
    assert (root / "etc/nhi-broker/config.toml").read_bytes() == EXAMPLE.read_bytes()
    program = root / "usr/local/bin/nhi-broker"
    shown = subprocess.run([program, "--version"], capture_output=True, text=True, check=True)
    assert shown.stdout.startswith("nhi-broker ")


def test_install_again_keeps_the_configuration_and_the_ca(tmp_path: Path) -> None:
    root = tmp_path / "root"
    installed(root)
    config = root / "etc/nhi-broker/config.toml"
    edited = EXAMPLE.read_text().replace(
        "tls = true", 'tls = true\nnames = ["reader-host.clinic.test"]', 1
    )
    config.write_text(edited)
    ca = (root / "var/lib/nhi-broker/tls/ca.crt").read_bytes()
    again = installed(root)
    assert config.read_text() == edited
    assert f"kept {config}" in again.stderr
    assert (root / "var/lib/nhi-broker/tls/ca.crt").read_bytes() == ca
    server = x509.load_pem_x509_certificate(
        (root / "var/lib/nhi-broker/tls/server.crt").read_bytes()
    )
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "reader-host.clinic.test" in san.get_values_for_type(x509.DNSName)


def systemd_analyze_verify(root: Path, unit: str) -> subprocess.CompletedProcess[str]:
    program = shutil.which("systemd-analyze")
    assert program is not None, (
        "systemd-analyze is missing: scripts/install-system.sh installs the systemd package"
    )
    return subprocess.run(
        [program, "verify", f"--root={root}", unit],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def with_systemd(root: Path) -> None:
    """What a Debian root has: systemd's own units (the targets ours order themselves
    after) and systemctl, which the renewal runs; copies of this machine's, read only."""
    assert SYSTEM_UNITS.is_dir(), f"{SYSTEM_UNITS} is missing: is the systemd package installed?"
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(SYSTEMCTL, root / "usr/bin/systemctl")


@pytest.mark.parametrize(
    "unit", ["nhi-broker.service", "nhi-broker-renew.service", "nhi-broker-renew.timer"]
)
def test_the_installed_units_pass_systemd_analyze_verify(tmp_path: Path, unit: str) -> None:
    root = tmp_path / "root"
    installed(root)
    with_systemd(root)
    verified = systemd_analyze_verify(root, f"/etc/systemd/system/{unit}")
    assert verified.returncode == 0, f"systemd-analyze verify failed:\n{verified.stderr}"
    assert verified.stderr == "", f"systemd-analyze verify warned:\n{verified.stderr}"


def test_systemd_analyze_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above would see a mistake: the same unit with a bad command fails."""
    root = tmp_path / "root"
    installed(root)
    with_systemd(root)
    unit = root / "etc/systemd/system/nhi-broker.service"
    broken = unit.read_text().replace("ExecStart=/usr/local/bin/", "ExecStart=/usr/bin/absent/")
    unit.write_text(broken)
    verified = systemd_analyze_verify(root, "/etc/systemd/system/nhi-broker.service")
    assert verified.returncode != 0
    assert "/usr/bin/absent" in verified.stderr


def test_uninstall_removes_the_service_and_says_what_data_it_leaves(tmp_path: Path) -> None:
    root = tmp_path / "root"
    installed(root)
    removed = nhi_broker("uninstall", "--root", str(root))
    assert removed.returncode == 0, removed.stderr
    left = set(files_and_modes(root)) - USER_DATABASE
    assert left == {
        "etc/nhi-broker/config.toml",
        "usr/local/share/applications/mimeinfo.cache",
        "var/lib/nhi-broker/tls/ca.crt",
        "var/lib/nhi-broker/tls/ca.key",
        "var/lib/nhi-broker/tls/server.crt",
        "var/lib/nhi-broker/tls/server.key",
    }
    cache = (root / "usr/local/share/applications/mimeinfo.cache").read_text()
    assert "cshis6" not in cache  # no handler for cshis6: any more
    for where in (root / "var/lib/nhi-broker", root / "etc/nhi-broker"):
        assert f"{where}  " in removed.stdout
    assert "cloud-SAM store" in removed.stdout
    assert f"userdel {USER}" in removed.stdout


def test_uninstall_takes_the_ca_out_of_the_system_store(tmp_path: Path) -> None:
    root = tmp_path / "root"
    installed(root)
    # a store is never empty: another authority stays in it throughout
    other = root / "usr/local/share/ca-certificates/clinic-proxy.crt"
    other.parent.mkdir(parents=True)
    other.write_bytes(make_self_signed("clinic proxy CA")[0])
    data = str(root / "var/lib/nhi-broker")
    trusted = subprocess.run(
        [NHI_BROKER, "cert", "install", "--root", str(root), "--data-dir", data],
        capture_output=True,
        text=True,
        env={"HOME": str(tmp_path / "home"), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        check=False,
    )
    assert trusted.returncode == 0, trusted.stderr
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    ca = (root / "var/lib/nhi-broker/tls/ca.crt").read_text().strip()
    assert ca in bundle.read_text()
    removed = nhi_broker("uninstall", "--root", str(root))
    assert removed.returncode == 0, removed.stderr
    assert not (root / "usr/local/share/ca-certificates/nhi-broker-ca.crt").exists()
    assert ca not in bundle.read_text()
    assert other.read_text().strip() in bundle.read_text()


@pytest.mark.parametrize("command", ["install", "uninstall"])
def test_install_and_uninstall_have_help(command: str) -> None:
    shown = nhi_broker(command, "--help")
    assert shown.returncode == 0
    assert "--root" in shown.stdout


def test_install_refuses_a_program_the_service_user_could_not_reach(tmp_path: Path) -> None:
    closed = tmp_path / "home" / "someone"  # e.g. a checkout under /root or a 0700 home
    program = closed / "nhi-broker" / ".venv" / "bin" / "nhi-broker"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    os.chmod(closed, 0o700)
    with pytest.raises(ServiceError, match=f"{closed} is closed to other users"):
        require_reachable(program)
    require_reachable(Path("/usr/bin/env"))  # /, /usr and /usr/bin are open to everyone
