"""``nhi-broker install`` and ``uninstall``: the systemd service on a Debian host.

Install lays out, under a root (``/`` or a staged tree): the system user
(systemd-sysusers), ``/etc/nhi-broker/config.toml`` (kept if present),
``/var/lib/nhi-broker`` with the service's own CA, ``/usr/local/bin/nhi-broker``,
the unit and its renewal timer, the operations guide, and the console's desktop
entry and ``cshis6:`` handler; then it prints the next steps. It starts nothing:
the configuration is edited first.

On the live root the data belongs to the service user as this host knows it.
Under another root nothing is given to a uid that only that tree's user database
defines (the same number may be another user here): the data stays root's until
the service's first start, when systemd hands its ``StateDirectory=`` to the user.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from broker import config
from broker.atomic import write_atomic
from nhi_broker.certs import update_ca_certificates
from nhi_broker.layout import CONFIG_DIR, DATA_DIR, DOCS, HIDDEN, SERVICE, USER, HostLayout
from nhi_https.certificates import ensure_server_certificate

EXAMPLE_CONFIG = config.PROFILES / "hardware.example.toml"


class ServiceError(Exception):
    """A step of install or uninstall failed; the message says what to do."""


COMMANDS = {
    "install": (
        "set up the systemd service, its user, the desktop entry and cshis6: handler",
        "As root on Debian 12/13: set up the nhi-broker service (system user nhi-broker in "
        "dialout, /etc/nhi-broker, /var/lib/nhi-broker with the service's CA, the unit and its "
        "renewal timer, the console's desktop entry and the cshis6: URL handler), then print "
        "the next steps. It starts nothing: edit the configuration first.",
    ),
    "uninstall": (
        "remove the systemd service, the desktop entry and cshis6: handler; keep the data",
        "As root on Debian 12/13: stop and remove the nhi-broker service (the unit and its "
        "renewal timer, /usr/local/bin/nhi-broker, the desktop entry and cshis6: handler, the "
        "sysusers entry, the CA in the system store). It keeps the user nhi-broker, "
        "/etc/nhi-broker and /var/lib/nhi-broker (settings, cloud SAMs, the CA stations "
        "trust), and prints how to remove each.",
    ),
}


def add_service_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``install`` and ``uninstall``."""
    for name, (summary, description) in COMMANDS.items():
        command = commands.add_parser(name, help=summary, description=description)
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
        # the venv's python links to the interpreter it was made from: the service must
        # see and reach both
        for path in (program, Path(sys.executable).resolve()):
            require_visible(path)
            require_reachable(path)
    _write(layout.sysusers, packaged(f"{SERVICE}.sysusers"))
    user_made = _make_user(layout)
    _install_config(layout)
    _install_data_dir(layout, data_owner(layout))
    _write(layout.program, wrapper(program), mode=0o755)
    _write(layout.unit, packaged(f"{SERVICE}.service"))
    for unit in layout.renew_units:
        _write(unit, packaged(unit.name))
    _write(layout.operations_doc, packaged("operations.md"))
    _write(layout.desktop_entry, packaged("nhi-broker-console.desktop"))
    _update_desktop_database(layout)
    if layout.is_live and systemd_running():
        _run("systemctl", "daemon-reload")
    print(next_steps(layout, user_made=user_made))
    return 0


def next_steps(layout: HostLayout, *, user_made: bool) -> str:
    """What the administrator does after ``install``, as on the host the service runs on."""
    lines = ["Next steps:"]
    if not layout.is_live:
        lines[0] = f"Laid out under {layout.root}. On the host it is for, next:"
    steps = [
        f"Edit {CONFIG_DIR / 'config.toml'}: the data centre's url, the serial readers, "
        "the stations (the file explains each key).",
        f"Start it now and at every boot: systemctl enable --now {SERVICE} "
        f"{layout.renew_units[1].name} (after a later edit: systemctl restart {SERVICE}).",
        f"Trust its CA: sudo {SERVICE} cert install (the system store), then, as each desktop "
        f"user, {SERVICE} cert install (Chromium, Firefox).",
        f"Its log: journalctl -u {SERVICE} -o cat (add -f to follow it).",
    ]
    if not user_made:
        steps.insert(1, f"Make its user: systemd-sysusers (reads /etc/sysusers.d/{SERVICE}.conf).")
    lines += [f"  {number}. {step}" for number, step in enumerate(steps, start=1)]
    lines.append(f"The operations guide: {DOCS / 'operations.md'}")
    return "\n".join(lines)


def uninstall(layout: HostLayout) -> int:
    """Remove what ``install`` made, except the data, the configuration and the user."""
    _require_root(layout, "uninstall")
    enabled = [unit.name for unit in (layout.unit, layout.renew_units[1]) if unit.exists()]
    if layout.is_live and systemd_running() and enabled:
        _run("systemctl", "disable", "--now", *enabled)
    made = (
        layout.unit,
        *layout.renew_units,
        layout.desktop_entry,
        layout.program,
        layout.sysusers,
        layout.operations_doc,
    )
    for path in made:
        if path.exists() or path.is_symlink():
            path.unlink()
            print(f"removed {path}", file=sys.stderr)
    with contextlib.suppress(OSError):  # the guide's own directory, unless something else is there
        layout.operations_doc.parent.rmdir()
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


def _make_user(layout: HostLayout) -> bool:
    """Run systemd-sysusers where there is a user database to add to; False where there is
    none (an empty staged tree: it would invent groups, ``dialout`` among them)."""
    if not layout.is_live and not layout.under(Path("/etc/group")).exists():
        print(
            f"no user database under {layout.root}: the user is made on the host", file=sys.stderr
        )
        return False
    _run("systemd-sysusers", *_root_option(layout), str(layout.sysusers))
    return True


def data_owner(layout: HostLayout) -> tuple[int, int] | None:
    """The service user's uid and gid on the live root (after sysusers); None elsewhere."""
    if not layout.is_live:
        return None
    try:
        user = pwd.getpwnam(USER)
    except KeyError:
        raise ServiceError(f"systemd-sysusers made no user {USER}") from None
    return user.pw_uid, user.pw_gid


def _install_config(layout: HostLayout) -> None:
    layout.config_dir.mkdir(parents=True, exist_ok=True)
    if layout.config_file.exists():
        print(f"kept {layout.config_file}", file=sys.stderr)
        return
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    # 0644: `nhi-broker open` run by desktop users reads the port; tokens are stored as hashes
    _write(layout.config_file, text.encode("utf-8"), mode=0o644)


def _install_data_dir(layout: HostLayout, owner: tuple[int, int] | None) -> None:
    """The data directory and the service's CA (there for cert install), the service
    user's when ``owner`` is given."""
    names: tuple[str, ...] = ()
    try:
        names = config.load(layout.config_file).names
    except config.ConfigError as exc:
        print(f"warning: {exc}; the certificate names loopback only for now", file=sys.stderr)
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.data_dir, 0o755)  # noqa: S103 - as the unit's StateDirectoryMode=
    tls = layout.data_dir / "tls"
    ensure_server_certificate(tls, names)
    if owner is None:
        print(
            f"{layout.data_dir} stays root's: systemd gives {DATA_DIR} to {USER} "
            "at the service's first start",
            file=sys.stderr,
        )
        return
    for path in (layout.data_dir, tls, *tls.iterdir()):
        os.chown(path, *owner)


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


def require_visible(program: Path) -> None:
    """The service must see ``program``: not under what its unit hides (``HIDDEN``)."""
    for path in {program.absolute(), program.resolve()}:
        hidden = next((h for h in HIDDEN if h == path or h in path.parents), None)
        if hidden is not None:
            raise ServiceError(
                f"{program} is under {hidden}, which the service cannot see (its unit has "
                "PrivateTmp=yes and ProtectHome=yes): put the checkout under /opt (e.g. "
                "/opt/nhi-broker), make its .venv there with Debian's python3 (scripts/setup), "
                "and run install from it"
            )


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise ServiceError(f"{' '.join(command)} failed: {(done.stderr or done.stdout).strip()}")
