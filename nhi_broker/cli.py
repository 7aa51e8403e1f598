"""The ``nhi-broker`` command line: ``serve``, ``token``, ``cert``, the service (``install``,
``uninstall``, ``open``) and the virtual card kit (``kit …``)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

import structlog

from api.services import token_hash
from broker import config
from broker import logging as broker_logging
from broker.formats import FormatError
from nhi_broker import desktop, service
from nhi_broker.assembly import (
    CLOUD_SIMULATOR_DIR,
    DC_SIMULATOR_DIR,
    log_migrations,
    start_cloud_simulator,
)
from nhi_broker.certs import CertError, add_cert_commands, run_cert
from nhi_broker.data_lock import DataDirInUseError, DirectoryLock, hold
from nhi_broker.kit_cards import kit_cards
from nhi_broker.serve import SWITCH_INTERVAL, serve, wait_for_stop_signal
from nhi_https.certificates import CertificateError
from nhi_kit.dcsim.server import DcSimulator
from nhi_kit.emulators.dc.simulator import DataCentre
from nhi_kit.emulators.kit import CardKit
from nhi_kit.emulators.serial_reader import SerialReaderEmulator
from nhi_kit.emulators.vpcd import DEFAULT_PORT, run_until_stopped

log = structlog.get_logger("broker.cli")

EXIT_USAGE = 2
EXIT_FAILED = 1  # it could not run (its directory is in use, or a newer release's)
CLOUD_PORT = 5102  # beside the DC simulator's 5100 and 5101
LOG_LEVELS = ["trace", "debug", "info", "warning", "error"]
# The broker's own commands: help line and description (cert, the service and kit: below).
COMMANDS = {
    "serve": (
        "run the broker and its Web API (HTTPS on https://localhost:5066)",
        "Run the broker. The sim profile brings the virtual card kit; the "
        "hardware profile uses pcscd's readers, serial readers and the configured data centre.",
    ),
    "token": (
        "print a new random token and the hash line for the configuration",
        "Print a new token (it is stored nowhere) and the line with its "
        "SHA-256 to paste into the TOML configuration.",
    ),
}


class CliError(Exception):
    """A command cannot run as asked; the message tells the user what to do."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with ``--help`` on every command."""
    parser = argparse.ArgumentParser(prog="nhi-broker", description=__doc__)
    parser.add_argument("--version", action="version", version=f"nhi-broker {version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    _add_serve(commands)
    _add_token(commands)
    add_cert_commands(commands)
    service.add_service_commands(commands)
    desktop.add_open_command(commands)
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
    kit.add_parser("cards", help="the kit's cards: PIN/PUK (test cards), formal/test, reader")
    _add_log_options(parser, top=True)
    return parser


def version() -> str:
    """The installed package's version."""
    try:
        return importlib.metadata.version("nhi-broker")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _add_log_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``--log-level`` and ``--log-format`` on ``parser`` and every command below it.

    Below the top, defaults are suppressed, so ``serve --log-level debug`` and
    ``--log-level debug serve`` both work and neither overwrites the other.
    """
    level_default = os.environ.get("NHI_BROKER_LOG_LEVEL", "info") if top else argparse.SUPPRESS
    parser.add_argument(
        "--log-level",
        default=level_default,
        choices=LOG_LEVELS,
        help="trace also logs every APDU (PINs masked); default info or $NHI_BROKER_LOG_LEVEL",
    )
    parser.add_argument(
        "--log-format",
        default=None if top else argparse.SUPPRESS,
        choices=["json", "console"],
        help="json: one object per line; console: for people (the default on a terminal)",
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                _add_log_options(child, top=False)


Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _command(commands: Commands, name: str) -> argparse.ArgumentParser:
    text, description = COMMANDS[name]
    return commands.add_parser(name, help=text, description=description)


def _add_serve(commands: Commands) -> None:
    serve_parser = _command(commands, "serve")
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
    role = _command(commands, "token").add_mutually_exclusive_group()
    role.add_argument("--admin", action="store_true", help="the admin token ([server])")
    role.add_argument("--station", metavar="NAME", default=None, help="a station's token")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    sys.setswitchinterval(SWITCH_INTERVAL)
    as_json = None if args.log_format is None else args.log_format == "json"
    broker_logging.configure(level=args.log_level, json=as_json)
    try:
        return _run(args)
    except (CliError, CertError, CertificateError, service.ServiceError, config.ConfigError) as exc:
        print(f"nhi-broker: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (DataDirInUseError, FormatError) as exc:  # kit dc, kit cloud (serve says its own)
        print(f"nhi-broker: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return serve(serve_config(args))
    if args.command == "token":
        return print_token(admin=args.admin, station=args.station)
    if args.command == "cert":
        return run_cert(args)
    if args.command in ("install", "uninstall"):
        return service.run_service_command(args)
    if args.command == "open":
        return desktop.run_open(args)
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


def kit_directory(data_dir: str | None, part: str, command: str) -> tuple[Path, DirectoryLock]:
    """A simulator's directory, ``--data-dir`` or ``part`` of the default data directory (the
    sim profile's broker uses it too), held by this process (``DataDirInUseError``)."""
    directory = Path(data_dir) if data_dir else config.default_data_dir() / part
    hint = "choose another directory with --data-dir DIR"
    return directory, hold([directory], holder=f"nhi-broker kit {command}", hint=hint)


def kit_dc(port: int, control_port: int, data_dir: str | None) -> int:
    """Run the data-centre simulator until SIGTERM or Ctrl-C."""
    directory, lock = kit_directory(data_dir, DC_SIMULATOR_DIR, "dc")
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
    lock.release()
    return 0


def kit_cloud(port: int, data_dir: str | None) -> int:
    """Run the NHI cloud simulator until SIGTERM or Ctrl-C (virtual cards cannot be checked:
    their ids live in the broker's data centre)."""
    directory, lock = kit_directory(data_dir, CLOUD_SIMULATOR_DIR, "cloud")
    simulator = start_cloud_simulator(directory, None, port=port)
    log_migrations(directory, [simulator.cloud.store.migration])
    print(simulator.url, flush=True)
    log.info("kit.cloud_ready", url=simulator.url, certificate=str(simulator.cert_path))
    wait_for_stop_signal()
    simulator.stop()
    lock.release()
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
