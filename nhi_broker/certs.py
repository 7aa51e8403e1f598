"""``nhi-broker cert …``: export the broker's local CA, or make this machine trust it.

Browsers and programs trust the CA (``<data_dir>/tls/ca.crt``), not the
server certificate, which is renewed beneath it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from broker import config
from broker.atomic import write_atomic
from nhi_broker.layout import HostLayout
from nhi_https.certificates import CA_FILE, ca_common_name, ca_der, ensure_ca, renewal_due

EXIT_DUE, EXIT_NOT_DUE = 0, 1  # as systemd's ExecCondition= reads them: 1 skips quietly


class CertError(Exception):
    """A certificate step failed; the message says what to do."""


# Each ``cert`` command: its help line and its description.
COMMANDS = {
    "export": (
        "write the broker's CA certificate for stations (Windows, macOS, Linux)",
        "Write the CA certificate that signs the broker's server certificate "
        "(made now if missing). Stations import it once. With --nss, also trust it in "
        "~/.pki/nssdb (Chromium on Linux).",
    ),
    "install": (
        "trust the broker's CA on this machine: system store and your browsers",
        "Add the CA to the system store (as root: /usr/local/share/"
        "ca-certificates and update-ca-certificates) and to every NSS database of the "
        "user running it (~/.pki/nssdb for Chromium, each Firefox profile).",
    ),
    "renewal-due": (
        "exit 0 if the server certificate must be made again (the daily timer asks)",
        "Exit 0 and print 'due' when serve would make the server certificate "
        "again (fewer than 30 days left, other names configured, another CA); exit 1 and "
        "print 'not due' otherwise. The installed nhi-broker-renew.timer restarts the "
        "service when it is due.",
    ),
}


def add_cert_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``cert export``, ``cert install`` and ``cert renewal-due``."""
    cert = commands.add_parser("cert", help="the broker's local CA").add_subparsers(
        dest="cert_command", required=True
    )
    parsers = {
        name: cert.add_parser(name, help=text, description=description)
        for name, (text, description) in COMMANDS.items()
    }
    export = parsers["export"]
    export.add_argument("--out", default=None, help="file to write (default: standard output)")
    export.add_argument(
        "--format", choices=["pem", "der"], default="pem", help="pem (default) or der (.cer)"
    )
    export.add_argument("--nss", action="store_true", help="trust it in ~/.pki/nssdb (certutil)")
    parsers["install"].add_argument(
        "--root", default="/", help="install into this root (default /)"
    )
    for parser in parsers.values():
        _data_dir_options(parser)


def _data_dir_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None, help="as given to serve")
    parser.add_argument("--config", default=None, help="as given to serve (for its data_dir)")


def data_dir_of(args: argparse.Namespace, layout: HostLayout) -> Path:
    """``--data-dir``, else the ``--config``'s, else the installed service's, else the user's."""
    if args.data_dir:
        return Path(args.data_dir)
    if args.config:
        return config.load(Path(args.config)).data_dir
    if (layout.data_dir / "tls" / CA_FILE).exists():
        return layout.data_dir
    return config.default_data_dir()


def run_cert(args: argparse.Namespace) -> int:
    """Run ``cert export`` or ``cert install``."""
    tls = data_dir_of(args, HostLayout(Path("/"))) / "tls"
    if args.cert_command == "renewal-due":
        names = config.load(Path(args.config)).names if args.config else ()
        due = renewal_due(tls, names)
        print("due" if due else "not due")
        return EXIT_DUE if due else EXIT_NOT_DUE
    ca = _ca(tls)
    if args.cert_command == "install":
        install_ca(ca, HostLayout(Path(args.root).absolute()), Path.home())
        return 0
    data = ca_der(tls) if args.format == "der" else ca.read_bytes()
    if args.out:
        out = Path(args.out).absolute()
        write_atomic(out, data, mode=0o644)
        print(f"wrote {out}", file=sys.stderr)
    elif not args.nss:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    if args.nss:
        trust_in_nss(ca, Path.home() / ".pki" / "nssdb", create=True)
    return 0


def _ca(tls: Path) -> Path:
    """The CA certificate; made if missing (where this user may write)."""
    if (tls / CA_FILE).exists():
        return tls / CA_FILE
    try:
        return ensure_ca(tls)[0]
    except PermissionError as exc:
        raise CertError(f"no CA in {tls}, and it cannot be made here ({exc})") from exc


def install_ca(ca: Path, layout: HostLayout, home: Path) -> None:
    """The system store (as root, or into another root), then every NSS database of ``home``."""
    if layout.is_live and os.geteuid() != 0:
        print(
            "not root: the system store is left alone (run 'sudo nhi-broker cert install' "
            "for it); your browsers' databases follow",
            file=sys.stderr,
        )
    else:
        add_to_system_store(ca, layout)
    for database, create in nss_databases(home):
        trust_in_nss(ca, database, create=create)


def add_to_system_store(ca: Path, layout: HostLayout) -> None:
    """Debian's store: a ``.crt`` in the local directory, then ``update-ca-certificates``."""
    layout.local_ca_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(layout.system_ca, ca.read_bytes(), mode=0o644)
    update_ca_certificates(layout)
    print(f"added {layout.system_ca} to the system store", file=sys.stderr)


def update_ca_certificates(layout: HostLayout, *, fresh: bool = False) -> None:
    """Rebuild the system bundle (``/etc/ssl/certs``) of ``layout``'s root."""
    program = shutil.which("update-ca-certificates") or "/usr/sbin/update-ca-certificates"
    if not Path(program).exists():
        raise CertError("update-ca-certificates is missing: apt-get install ca-certificates")
    arguments = [program, *(["--fresh"] if fresh else [])]
    if not layout.is_live:
        arguments += _store_in_root(layout)
    done = subprocess.run(arguments, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise CertError(f"update-ca-certificates failed: {(done.stderr or done.stdout).strip()}")


def _store_in_root(layout: HostLayout) -> list[str]:
    """update-ca-certificates' paths moved under another root (it has no --root)."""
    root = layout.root
    conf = root / "etc" / "ca-certificates.conf"
    for directory in (root / "etc" / "ssl" / "certs", root / "usr" / "share" / "ca-certificates"):
        directory.mkdir(parents=True, exist_ok=True)
    if not conf.exists():
        write_atomic(conf, b"", mode=0o644)
    return [
        "--certsconf", str(conf),
        "--certsdir", str(root / "usr" / "share" / "ca-certificates"),
        "--localcertsdir", str(layout.local_ca_dir),
        "--etccertsdir", str(root / "etc" / "ssl" / "certs"),
        "--hooksdir", str(root / "etc" / "ca-certificates" / "update.d"),
    ]  # fmt: skip


def nss_databases(home: Path) -> Iterator[tuple[Path, bool]]:
    """Each NSS database of the user, and whether to create it when missing.

    Chromium's (``~/.pki/nssdb``) is made if absent (Chromium makes it the same
    way); Firefox profiles, also the snap's, only where one exists.
    """
    yield home / ".pki" / "nssdb", True
    for firefox in (home / ".mozilla" / "firefox", home / "snap/firefox/common/.mozilla/firefox"):
        for db in sorted(firefox.glob("*/cert9.db")):
            yield db.parent, False


def _certutil() -> str:
    found = shutil.which("certutil")
    if found is None:
        raise CertError(
            "certutil is missing: install it with 'apt-get install libnss3-tools', "
            "then run this again"
        )
    return found


def trust_in_nss(ca: Path, database: Path, *, create: bool) -> None:
    """Trust ``ca`` to issue TLS server certificates in the NSS ``database``."""
    certutil = _certutil()
    where = f"sql:{database}"
    if not (database / "cert9.db").exists():
        if not create:
            return
        database.mkdir(parents=True, exist_ok=True, mode=0o700)
        _run_certutil(certutil, "-N", "-d", where, "--empty-password")
    nickname = ca_common_name(ca.parent)
    # A CA made again (a new data dir) replaces the old one under the same name.
    subprocess.run(  # noqa: S603 - certutil found on PATH, fixed arguments
        [certutil, "-D", "-d", where, "-n", nickname], capture_output=True, check=False
    )
    _run_certutil(certutil, "-A", "-d", where, "-t", "C,,", "-n", nickname, "-i", str(ca))
    print(f"trusted {ca} in {database} as {nickname!r}", file=sys.stderr)


def _run_certutil(certutil: str, *arguments: str) -> None:
    done = subprocess.run(  # noqa: S603 - certutil found on PATH, fixed arguments
        [certutil, *arguments], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise CertError(f"certutil {arguments[0]} failed: {(done.stderr or done.stdout).strip()}")
