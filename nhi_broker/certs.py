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
from pathlib import Path

from broker import config
from broker.atomic import write_atomic
from nhi_broker.browser_trust import NssDatabase, TrustError, nss_databases, trust_in_nss
from nhi_broker.layout import HostLayout
from nhi_https.certificates import CA_FILE, ca_common_name, ca_der, load_ca, renewal_due

EXIT_DUE, EXIT_NOT_DUE = 0, 1  # as systemd's ExecCondition= reads them: 1 skips quietly


class CertError(Exception):
    """A certificate step failed; the message says what to do."""


# Each ``cert`` command: its help line and its description.
COMMANDS = {
    "export": (
        "write the broker's CA certificate for stations (Windows, macOS, Linux)",
        "Write the CA certificate that signs the broker's server certificate. "
        "Stations import it once. With --nss, also trust it in ~/.pki/nssdb (Chromium on "
        "Linux). The broker makes its CA when it first starts; this never makes one.",
    ),
    "install": (
        "trust the broker's CA on this machine: system store and your browsers",
        "Add the CA to the system store (as root: /usr/local/share/"
        "ca-certificates and update-ca-certificates) and to every NSS database of the "
        "user running it (~/.pki/nssdb for Chromium, each Firefox profile that a "
        "profiles.ini lists). It trusts the CA of the data directory the broker uses "
        "(--data-dir, --config, the installed service's, else yours) and never makes one.",
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
    """Run ``cert export``, ``cert install`` or ``cert renewal-due``."""
    live = HostLayout(Path("/"))
    tls = data_dir_of(args, live) / "tls"
    if args.cert_command == "renewal-due":
        names = config.load(Path(args.config)).names if args.config else ()
        due = renewal_due(tls, names)
        print("due" if due else "not due")
        return EXIT_DUE if due else EXIT_NOT_DUE
    ca = existing_ca(tls, None if args.data_dir or args.config else live.data_dir / "tls")
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
        chromium = NssDatabase(Path.home() / ".pki" / "nssdb", "Chromium", create=True)
        try:
            trust_in_nss(ca, ca_common_name(tls), chromium)
        except TrustError as exc:
            raise CertError(f"{chromium.path}: {exc}") from exc
    return 0


def existing_ca(tls: Path, service_tls: Path | None) -> Path:
    """The CA certificate in ``tls``, which must load; never made here (``serve`` makes it).

    ``service_tls``: the installed service's, also looked in when no data directory
    was named; named in the refusal so that the user sees where the CA was looked for.
    """
    ca = tls / CA_FILE
    if not ca.exists():
        also = f", nor in {service_tls} (the installed service's)" if service_tls else ""
        raise CertError(
            f"no CA in {tls}{also}: the broker makes its CA when it first starts "
            "('nhi-broker serve', or the installed service); start it once, or name the "
            "data directory it uses with --data-dir DIR or --config FILE"
        )
    load_ca(tls)  # a clear error for an unreadable or damaged file
    return ca


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
    databases, notes = nss_databases(home)
    for note in notes:
        print(note, file=sys.stderr)
    nickname = ca_common_name(ca.parent)
    failed = []
    for database in databases:
        try:
            trust_in_nss(ca, nickname, database)
        except TrustError as exc:
            print(f"not trusted in {database.path} ({database.browser}): {exc}", file=sys.stderr)
            failed.append(str(database.path))
    if failed:
        raise CertError(f"the CA is not trusted in {', '.join(failed)} (see above)")


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
