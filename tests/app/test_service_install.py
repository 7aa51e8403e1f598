"""``nhi-broker install`` / ``uninstall`` into a temporary root, and the unit they install
checked by systemd's own ``systemd-analyze verify``. Nothing here depends on this host's
users: a staged root's user database is Debian's own (base-passwd's master files)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from nhi_broker.service import ServiceError, packaged, require_reachable, require_visible
from nhi_https.certificates import make_self_signed
from tests.serving import NHI_BROKER

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "hardware.example.toml"
DEBIAN_USERS = Path("/usr/share/base-passwd")  # base-passwd: every Debian's first passwd, group
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


def debian_root(root: Path) -> Path:
    """A root holding Debian's own user database, as a freshly made system has it."""
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group"):
        shutil.copy(DEBIAN_USERS / f"{name}.master", root / "etc" / name)
    return root


def entries(path: Path) -> dict[str, list[str]]:
    """A passwd or group file by name."""
    return {line.split(":")[0]: line.split(":") for line in path.read_text().splitlines()}


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
    "usr/local/share/doc/nhi-broker/operations.md": 0o644,
    "var/lib/nhi-broker/tls/ca.crt": 0o644,
    "var/lib/nhi-broker/tls/ca.key": 0o600,
    "var/lib/nhi-broker/tls/server.crt": 0o644,
    "var/lib/nhi-broker/tls/server.key": 0o600,
}
USER_DATABASE = {"etc/passwd", "etc/group", "etc/shadow", "etc/gshadow", "etc/.pwd.lock"}


def test_install_lays_out_every_file_with_its_mode(tmp_path: Path) -> None:
    root = tmp_path / "root"
    installed(root)
    found = files_and_modes(root)
    assert set(found) - USER_DATABASE == set(EXPECTED)
    assert {p: found[p] for p in EXPECTED} == EXPECTED


def test_install_ends_with_the_next_steps(tmp_path: Path) -> None:
    done = installed(debian_root(tmp_path / "root"))
    steps = done.stdout
    assert steps.startswith(f"Laid out under {tmp_path / 'root'}.")
    for step in (
        "1. Edit /etc/nhi-broker/config.toml",
        "2. Start it now and at every boot: systemctl enable --now nhi-broker "
        "nhi-broker-renew.timer",
        "3. Trust its CA: sudo nhi-broker cert install",
        "as each desktop user, nhi-broker cert install",
        "4. Its log: journalctl -u nhi-broker -o cat",
        "/usr/local/share/doc/nhi-broker/operations.md",
    ):
        assert step in steps
    assert "systemd-sysusers" not in steps  # the staged root's database has the user
    assert "systemctl" not in done.stderr  # only wrote lines: it starts nothing


def test_install_under_a_root_adds_the_user_to_its_own_dialout_and_owns_nothing_by_it(
    tmp_path: Path,
) -> None:
    root = debian_root(tmp_path / "root")
    installed(root)
    users, groups = entries(root / "etc/passwd"), entries(root / "etc/group")
    _, _, _, gid, _gecos, home, shell = users[USER]
    assert (home, shell) == ("/var/lib/nhi-broker", "/usr/sbin/nologin")
    assert groups[USER][2] == gid
    debian = entries(DEBIAN_USERS / "group.master")
    assert groups["dialout"][2] == debian["dialout"][2] == "20"  # Debian's, not a new one
    assert USER in groups["dialout"][3].split(",")
    assert set(debian) <= set(groups)
    # that uid is the staged tree's: on this host it may be anyone, so nothing is its
    owners = {(path.lstat().st_uid, path.lstat().st_gid) for path in root.rglob("*")}
    assert owners == {(0, 0)}


def test_install_under_an_empty_root_makes_no_user_database(tmp_path: Path) -> None:
    root = tmp_path / "root"
    done = installed(root)
    assert not (root / "etc/passwd").exists()
    assert not (root / "etc/group").exists()  # no dialout of its own making
    assert {path.lstat().st_uid for path in root.rglob("*")} == {0}
    assert "2. Make its user: systemd-sysusers" in done.stdout
    assert "3. Start it now" in done.stdout


def test_install_ships_the_unit_the_example_config_and_a_working_program(tmp_path: Path) -> None:
    root = tmp_path / "root"
    installed(root)
    unit = root / "etc/systemd/system/nhi-broker.service"
    assert unit.read_bytes() == packaged("nhi-broker.service")
    assert (root / "etc/nhi-broker/config.toml").read_bytes() == EXAMPLE.read_bytes()
    program = root / "usr/local/bin/nhi-broker"
    shown = subprocess.run([program, "--version"], capture_output=True, text=True, check=True)
    assert shown.stdout.startswith("nhi-broker ")
    for setup in ("etc/nhi-broker/config.toml", "etc/systemd/system/nhi-broker.service"):
        assert (root / setup).stat().st_uid == 0  # the service cannot rewrite its own setup


def test_the_units_documentation_is_the_installed_operations_guide(tmp_path: Path) -> None:
    root = tmp_path / "root"
    installed(root)
    unit = (root / "etc/systemd/system/nhi-broker.service").read_text()
    documents = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("Doc")]
    assert documents[1:] == ["https://localhost:5066/api/swagger/index.html"]
    assert documents[0].startswith("file:/")
    guide = root / documents[0].removeprefix("file:/")
    assert guide.read_bytes() == (REPO / "docs/operations.md").read_bytes()


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
    assert not (root / "usr/local/share/doc/nhi-broker").exists()
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


def test_uninstalls_help_says_what_it_keeps() -> None:
    shown = " ".join(nhi_broker("uninstall", "--help").stdout.split())
    assert "It keeps the user nhi-broker, /etc/nhi-broker and /var/lib/nhi-broker" in shown
    summary = " ".join(nhi_broker("--help").stdout.split())
    assert "remove the systemd service, the desktop entry and cshis6: handler; keep the" in summary


def test_install_refuses_a_program_the_service_user_could_not_reach(tmp_path: Path) -> None:
    closed = tmp_path / "home" / "someone"  # e.g. a checkout under /root or a 0700 home
    program = closed / "nhi-broker" / ".venv" / "bin" / "nhi-broker"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    os.chmod(closed, 0o700)
    with pytest.raises(ServiceError, match=f"{closed} is closed to other users"):
        require_reachable(program)
    require_reachable(Path("/usr/bin/env"))  # /, /usr and /usr/bin are open to everyone


@pytest.mark.parametrize(
    ("place", "hidden"),
    [
        ("/tmp/nhi-broker", "/tmp"),  # PrivateTmp=yes
        ("/var/tmp/x", "/var/tmp"),
        ("/home/clinic/nhi-broker", "/home"),  # ProtectHome=yes
        ("/root/nhi-broker", "/root"),
        ("/run/user/0/x", "/run/user"),
    ],
)
def test_install_refuses_a_program_the_unit_hides_from_the_service(place: str, hidden: str) -> None:
    program = Path(place) / ".venv" / "bin" / "nhi-broker"
    with pytest.raises(ServiceError, match=f"is under {hidden}, which the service cannot see"):
        require_visible(program)


def test_a_program_under_opt_or_usr_is_visible_to_the_service() -> None:
    require_visible(Path("/opt/nhi-broker/.venv/bin/nhi-broker"))
    require_visible(Path("/usr/bin/python3"))
    require_visible(Path("/tmpfiles/nhi-broker"))  # a name that only begins like /tmp
