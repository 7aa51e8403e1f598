"""``nhi-broker install`` and ``uninstall``: the systemd service on a Debian host.

Install lays out, under a root (``/`` or a test's directory): the system user
(systemd-sysusers), ``/etc/nhi-broker/config.toml`` (kept if present),
``/var/lib/nhi-broker`` with the local CA, ``/usr/local/bin/nhi-broker``, the
unit, and the console's desktop entry and ``cshis6:`` handler. Only on the live
root with systemd running does it enable and start the service.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from broker import config
from broker.atomic import write_atomic
from nhi_broker.certs import update_ca_certificates
from nhi_broker.layout import SERVICE, USER, HostLayout
from nhi_https.certificates import ensure_server_certificate

EXAMPLE_CONFIG = config.PROFILES / "hardware.example.toml"


class ServiceError(Exception):
    """A step of install or uninstall failed; the message says what to do."""


def add_service_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``install`` and ``uninstall``."""
    for name, what in (("install", "set up"), ("uninstall", "remove")):
        command = commands.add_parser(
            name,
            help=f"{what} the systemd service, its user, the desktop entry and cshis6: handler",
            description=f"As root on Debian 12/13: {what} the nhi-broker service "
            "(system user nhi-broker in dialout, /etc/nhi-broker, /var/lib/nhi-broker, "
            "the unit, the console's desktop entry and the cshis6: URL handler).",
        )
        command.add_argument("--root", default="/", help="work under this root (default /)")


def run_service_command(args: argparse.Namespace) -> int:
    """Run ``install`` (of this very program, from its venv) or ``uninstall``."""
    layout = HostLayout(Path(args.root).absolute())
    if args.command == "install":
        return install(layout, Path(sys.executable).parent / "nhi-broker")
    return uninstall(layout)


def packaged(name: str) -> bytes:
    """A file shipped in ``nhi_broker/host/`` (the unit, sysusers entry, desktop entry)."""
    return resources.files("nhi_broker").joinpath("host", name).read_bytes()


def systemd_running() -> bool:
    """Whether this machine was booted with systemd (sd_booted(3))."""
    return Path("/run/systemd/system").is_dir()


def install(layout: HostLayout, program: Path) -> int:
    """Set the service up under ``layout.root``; ``program`` is this ``nhi-broker``."""
    _require_root(layout, "install")
    if layout.is_live:
        # the venv's python links to the interpreter it was made from: both must be reachable
        for path in (program, Path(sys.executable).resolve()):
            require_reachable(path)
    _write(layout.sysusers, packaged(f"{SERVICE}.sysusers"))
    _run("systemd-sysusers", *_root_option(layout), str(layout.sysusers))
    uid, gid = service_ids(layout)
    _install_config(layout)
    _install_data_dir(layout, uid, gid)
    _write(layout.program, wrapper(program), mode=0o755)
    _write(layout.unit, packaged(f"{SERVICE}.service"))
    for unit in layout.renew_units:
        _write(unit, packaged(unit.name))
    _write(layout.desktop_entry, packaged("nhi-broker-console.desktop"))
    _update_desktop_database(layout)
    if layout.is_live and systemd_running():
        _run("systemctl", "daemon-reload")
        _run("systemctl", "enable", "--now", f"{SERVICE}.service", layout.renew_units[1].name)
        print(f"{SERVICE} is running: https://localhost:5066/console", file=sys.stderr)
    else:
        print(f"installed under {layout.root}; systemctl was not run", file=sys.stderr)
    return 0


def uninstall(layout: HostLayout) -> int:
    """Remove what ``install`` made, except the data, the configuration and the user."""
    _require_root(layout, "uninstall")
    enabled = [unit.name for unit in (layout.unit, layout.renew_units[1]) if unit.exists()]
    if layout.is_live and systemd_running() and enabled:
        _run("systemctl", "disable", "--now", *enabled)
    made = (layout.unit, *layout.renew_units, layout.desktop_entry, layout.program, layout.sysusers)
    for path in made:
        if path.exists() or path.is_symlink():
            path.unlink()
            print(f"removed {path}", file=sys.stderr)
    _update_desktop_database(layout)
    if layout.is_live and systemd_running():
        _run("systemctl", "daemon-reload")
    if layout.system_ca.exists():
        layout.system_ca.unlink()
        update_ca_certificates(layout, fresh=True)
        print(f"removed {layout.system_ca} from the system store", file=sys.stderr)
    print(leftovers(layout))
    return 0


def leftovers(layout: HostLayout) -> str:
    """What uninstall leaves, where, and how to remove it."""
    data, conf = layout.data_dir, layout.config_dir
    return "\n".join(
        [
            "Left in place (remove them yourself once you no longer need them):",
            f"  {data}  settings, the cloud-SAM store (its SAMs open on this host only) and "
            f"the local CA that stations trust: rm -r {shlex.quote(str(data))}",
            f"  {conf}  the configuration (station tokens' hashes, readers): "
            f"rm -r {shlex.quote(str(conf))}",
            f"  the system user and group {USER}: userdel {USER}",
            "  the CA in browsers' NSS databases and on stations: remove 'nhi-broker local CA'",
        ]
    )


def wrapper(program: Path) -> bytes:
    """``/usr/local/bin/nhi-broker``: runs this installation's program (its venv)."""
    return f'#!/bin/sh\nexec {shlex.quote(str(program))} "$@"\n'.encode()


def service_ids(layout: HostLayout) -> tuple[int, int]:
    """The service user's uid and gid, from the root's ``/etc/passwd`` (sysusers wrote it)."""
    passwd = layout.under(Path("/etc/passwd"))
    for line in passwd.read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if fields[0] == USER and len(fields) > 3:
            return int(fields[2]), int(fields[3])
    raise ServiceError(f"systemd-sysusers made no user {USER} in {passwd}")


def _install_config(layout: HostLayout) -> None:
    layout.config_dir.mkdir(parents=True, exist_ok=True)
    if layout.config_file.exists():
        print(f"kept {layout.config_file}", file=sys.stderr)
        return
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    # 0644: `nhi-broker open` run by desktop users reads the port; tokens are stored as hashes
    _write(layout.config_file, text.encode("utf-8"), mode=0o644)


def _install_data_dir(layout: HostLayout, uid: int, gid: int) -> None:
    """The data directory and the CA, the service user's; the CA is there for cert install."""
    names: tuple[str, ...] = ()
    try:
        names = config.load(layout.config_file).names
    except config.ConfigError as exc:
        print(f"warning: {exc}; the certificate names loopback only for now", file=sys.stderr)
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.data_dir, 0o755)  # noqa: S103 - as the unit's StateDirectoryMode=
    tls = layout.data_dir / "tls"
    ensure_server_certificate(tls, names)
    for path in (layout.data_dir, tls, *tls.iterdir()):
        os.chown(path, uid, gid)


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, mode=mode)
    print(f"wrote {path}", file=sys.stderr)


def _update_desktop_database(layout: HostLayout) -> None:
    """Refresh ``mimeinfo.cache``, where xdg-open finds the ``cshis6:`` handler."""
    if shutil.which("update-desktop-database") and layout.applications.is_dir():
        _run("update-desktop-database", str(layout.applications))


def _root_option(layout: HostLayout) -> list[str]:
    return [] if layout.is_live else [f"--root={layout.root}"]


def _require_root(layout: HostLayout, command: str) -> None:
    if os.geteuid() != 0:
        where = "" if layout.is_live else f" --root {layout.root}"
        raise ServiceError(f"run it as root: sudo nhi-broker {command}{where}")


def require_reachable(program: Path) -> None:
    """The service user must be able to run ``program``: every directory above it searchable."""
    for directory in program.absolute().parents:
        if not os.stat(directory).st_mode & 0o001:
            raise ServiceError(
                f"{directory} is closed to other users, so the service user cannot run "
                f"{program}: put the checkout under /opt (e.g. /opt/nhi-broker), make its "
                ".venv there with Debian's python3 (scripts/setup), and run install from it"
            )


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise ServiceError(f"{' '.join(command)} failed: {(done.stderr or done.stdout).strip()}")
