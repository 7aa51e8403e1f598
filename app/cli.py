"""The ``nhi-broker`` command line: ``serve``, ``token``, ``cert export`` and the virtual
card kit (``kit …``)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

import structlog

from api.serve import certificate_paths, serve, wait_for_stop_signal
from api.services import token_hash
from app.assembly import start_cloud_simulator
from broker import config
from broker import logging as broker_logging
from broker.emulators.dc.simulator import DataCentre
from broker.emulators.kit import CardKit
from broker.emulators.serial_reader import SerialReaderEmulator
from broker.emulators.vpcd import DEFAULT_PORT, run_until_stopped
from dcsim.server import DcSimulator

log = structlog.get_logger("broker.cli")

NSS_NICKNAME = "nhi-broker-localhost"
EXIT_USAGE = 2
CLOUD_PORT = 5102  # beside the DC simulator's 5100 and 5101


class CliError(Exception):
    """A command cannot run as asked; the message tells the user what to do."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with ``--help`` on every command."""
    parser = argparse.ArgumentParser(prog="nhi-broker", description=__doc__)
    parser.add_argument(
        "--log-level",
        default=os.environ.get("NHI_BROKER_LOG_LEVEL", "info"),
        choices=["trace", "debug", "info", "warning", "error"],
        help="trace also logs every APDU (PINs masked); default info or $NHI_BROKER_LOG_LEVEL",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    _add_serve(commands)
    _add_token(commands)
    _add_cert(commands)
    kit = commands.add_parser("kit", help="the virtual card kit").add_subparsers(
        dest="kit_command", required=True
    )
    vpcd = kit.add_parser("vpcd", help="connect one emulated card to pcscd's vpcd slot")
    vpcd.add_argument("--card", required=True, help="card id, e.g. 900000000711")
    vpcd.add_argument("--port", type=int, default=DEFAULT_PORT, help="35963 slot 0, 35964 slot 1")
    kit.add_parser("serial", help="an emulated NHI serial reader on a new pty")
    dc = kit.add_parser("dc", help="the data-centre simulator alone (HTTPS on loopback)")
    dc.add_argument("--port", type=int, default=5100)
    dc.add_argument("--control-port", type=int, default=5101, help="plain-HTTP fault control")
    dc.add_argument("--data-dir", default=None, help="where its TLS certificate is kept")
    cloud = kit.add_parser("cloud", help="the NHI cloud simulator alone (HTTPS on loopback)")
    cloud.add_argument("--port", type=int, default=CLOUD_PORT)
    cloud.add_argument("--data-dir", default=None, help="where its state and certificate are kept")
    kit.add_parser("cards", help="list the kit's cards")
    return parser


Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _add_serve(commands: Commands) -> None:
    serve_parser = commands.add_parser(
        "serve",
        help="run the broker and its Web API (HTTPS on https://localhost:5066)",
        description="Run the broker. The sim profile brings the virtual card kit; the "
        "hardware profile uses pcscd's readers, serial readers and the configured data centre.",
    )
    serve_parser.add_argument(
        "--profile",
        choices=["sim", "hardware"],
        default=None,
        help="sim (default; the embedded profile) or hardware (needs --config)",
    )
    serve_parser.add_argument(
        "--config", default=None, help="TOML file (config/hardware.example.toml explains it)"
    )
    serve_parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, default=None, help="default 5066; 0 picks one")
    serve_parser.add_argument(
        "--data-dir", default=None, help="settings, cloud-SAM store and the TLS certificate"
    )
    serve_parser.add_argument(
        "--plain-http",
        action="store_true",
        help="serve HTTP, not HTTPS (loopback only: refused on other addresses)",
    )


def _add_token(commands: Commands) -> None:
    token_parser = commands.add_parser(
        "token",
        help="print a new random token and the hash line for the configuration",
        description="Print a new token (it is stored nowhere) and the line with its "
        "SHA-256 to paste into the TOML configuration.",
    )
    role = token_parser.add_mutually_exclusive_group()
    role.add_argument("--admin", action="store_true", help="the admin token ([server])")
    role.add_argument("--station", metavar="NAME", default=None, help="a station's token")


def _add_cert(commands: Commands) -> None:
    cert = commands.add_parser("cert", help="the broker's TLS certificate").add_subparsers(
        dest="cert_command", required=True
    )
    export = cert.add_parser(
        "export",
        help="write the broker's certificate (PEM); --nss makes Chromium trust it",
        description="Write the certificate serve uses (made now if missing). With --nss, "
        "add it to your NSS database (~/.pki/nssdb) so Chromium trusts the console; "
        "run it as the user who runs the browser.",
    )
    export.add_argument("--out", default=None, help="file to write (default: standard output)")
    export.add_argument("--nss", action="store_true", help="trust it in ~/.pki/nssdb (certutil)")
    export.add_argument("--data-dir", default=None, help="as given to serve")
    export.add_argument("--config", default=None, help="as given to serve (for its data_dir)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    broker_logging.configure(level=args.log_level)
    try:
        return _run(args)
    except (CliError, config.ConfigError) as exc:
        print(f"nhi-broker: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return serve(serve_config(args))
    if args.command == "token":
        return print_token(admin=args.admin, station=args.station)
    if args.command == "cert":
        return cert_export(args)
    return _kit(args)


def _kit(args: argparse.Namespace) -> int:
    if args.kit_command == "vpcd":
        return kit_vpcd(args.card, args.port)
    if args.kit_command == "serial":
        return kit_serial()
    if args.kit_command == "dc":
        return kit_dc(args.port, args.control_port, args.data_dir)
    if args.kit_command == "cloud":
        return kit_cloud(args.port, args.data_dir)
    return kit_cards()


def kit_vpcd(card_id: str, port: int) -> int:
    """Serve one card through vpcd until SIGTERM or Ctrl-C (= card removed)."""
    try:
        card = CardKit().card(card_id)
    except KeyError:
        print(
            f"nhi-broker: the kit has no card {card_id}; see 'nhi-broker kit cards'",
            file=sys.stderr,
        )
        return 2
    run_until_stopped(card, port=port)
    return 0


def kit_serial() -> int:
    """Start the emulated serial reader with the sim profile's cards; print its tty."""
    reader = start_sim_serial_reader(CardKit())
    print(reader.path, flush=True)
    log.info("kit.serial_ready", tty=reader.path, cards=sim_serial_cards())
    wait_for_stop_signal()
    reader.stop()
    return 0


def kit_dc(port: int, control_port: int, data_dir: str | None) -> int:
    """Run the data-centre simulator until SIGTERM or Ctrl-C."""
    directory = Path(data_dir) if data_dir else config.default_data_dir() / "dc-simulator"
    simulator = DcSimulator(DataCentre.kit(), directory, port=port, control_port=control_port)
    simulator.start()
    print(simulator.url, flush=True)
    log.info(
        "kit.dc_ready",
        url=simulator.url,
        control_url=simulator.control_url,
        certificate=str(simulator.cert_path),
    )
    wait_for_stop_signal()
    simulator.stop()
    return 0


def kit_cloud(port: int, data_dir: str | None) -> int:
    """Run the NHI cloud simulator until SIGTERM or Ctrl-C (virtual cards cannot be checked:
    their ids live in the broker's data centre)."""
    directory = Path(data_dir) if data_dir else config.default_data_dir() / "cloud-simulator"
    simulator = start_cloud_simulator(directory, None, port=port)
    print(simulator.url, flush=True)
    log.info("kit.cloud_ready", url=simulator.url, certificate=str(simulator.cert_path))
    wait_for_stop_signal()
    simulator.stop()
    return 0


def kit_cards() -> int:
    """Print the kit's cards, one per line."""
    for card in CardKit().listing():
        name = (
            card.fields.get("name") or card.fields.get("c_name") or card.fields.get("hospital_name")
        )
        print(f"{card.id}  {card.kind:<3}  {card.fields['environment']}  {name or ''}")
    return 0


def serve_config(args: argparse.Namespace) -> config.BrokerConfig:
    """The configuration ``serve`` runs: the profile's, then the command line's overrides."""
    if args.config:
        settings = config.load(Path(args.config))
    elif args.profile == "hardware":
        raise CliError(
            "the hardware profile needs --config FILE (see config/hardware.example.toml)"
        )
    else:
        settings = config.sim_profile()
    return dataclasses.replace(
        settings,
        profile=args.profile or settings.profile,
        host=settings.host if args.host is None else args.host,
        port=settings.port if args.port is None else args.port,
        data_dir=Path(args.data_dir) if args.data_dir else settings.data_dir,
        tls=settings.tls and not args.plain_http,
    )


def print_token(*, admin: bool, station: str | None) -> int:
    """Print a new token and the configuration line holding its hash; store nothing."""
    token = secrets.token_urlsafe(32)
    digest = token_hash(token)
    print(token)
    if admin:
        print('# The admin token: send "Authorization: Bearer <token>" to /api/admin/ paths.')
        print("# It is stored nowhere. Paste this line into the [server] table:")
        print(f'admin_token_sha256 = "{digest}"')
        return 0
    where = f'the [[stations]] entry named "{station}"' if station else "a [[stations]] entry"
    print('# Give the token to the HIS workstation: it sends "Authorization: Bearer <token>".')
    print(f"# It is stored nowhere. Paste this line into {where}:")
    print(f'token_sha256 = "{digest}"')
    return 0


def cert_export(args: argparse.Namespace) -> int:
    """Write the broker's certificate; with ``--nss`` trust it in the user's NSS database."""
    if args.data_dir:
        data_dir = Path(args.data_dir)
    elif args.config:
        data_dir = config.load(Path(args.config)).data_dir
    else:
        data_dir = config.default_data_dir()
    certificate = certificate_paths(data_dir)[0]
    pem = certificate.read_bytes()
    if args.out:
        Path(args.out).write_bytes(pem)
        print(f"wrote {args.out}", file=sys.stderr)
    elif not args.nss:
        sys.stdout.write(pem.decode("ascii"))
    if args.nss:
        trust_in_nss(Path(args.out) if args.out else certificate)
    return 0


def trust_in_nss(certificate: Path) -> None:
    """Add ``certificate`` as a trusted TLS authority to ``~/.pki/nssdb`` (Chromium's)."""
    certutil = shutil.which("certutil")
    if certutil is None:
        raise CliError(
            "certutil is missing: install it with 'apt-get install libnss3-tools', "
            "then run this again"
        )
    database = Path.home() / ".pki" / "nssdb"
    where = f"sql:{database}"
    if not (database / "cert9.db").exists():
        database.mkdir(parents=True, exist_ok=True, mode=0o700)
        _certutil(certutil, "-N", "-d", where, "--empty-password")
    # A certificate made again (a new data dir) replaces the old one under the same name.
    subprocess.run(  # noqa: S603 - certutil found on PATH, fixed arguments
        [certutil, "-D", "-d", where, "-n", NSS_NICKNAME], capture_output=True, check=False
    )
    _certutil(certutil, "-A", "-d", where, "-t", "C,,", "-n", NSS_NICKNAME, "-i", str(certificate))
    print(f"trusted {certificate} in {database} as {NSS_NICKNAME!r}", file=sys.stderr)


def _certutil(certutil: str, *arguments: str) -> None:
    done = subprocess.run(  # noqa: S603 - certutil found on PATH, fixed arguments
        [certutil, *arguments], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise CliError(f"certutil {arguments[0]} failed: {(done.stderr or done.stdout).strip()}")


def sim_serial_cards() -> dict[str, str]:
    """What the sim profile's COM1 holds (config/default.toml): slot → card id."""
    return config.sim_profile().sim.serial.get("COM1", {})


def start_sim_serial_reader(kit: CardKit) -> SerialReaderEmulator:
    """COM1 of the sim profile, its slots filled."""
    reader = SerialReaderEmulator("COM1")
    reader.start()
    for slot, card_id in sim_serial_cards().items():
        reader.insert(slot, kit.card(card_id))
    return reader
