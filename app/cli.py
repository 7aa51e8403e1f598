"""The ``nhi-broker`` command line: ``serve`` and the virtual card kit (``kit …``)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import structlog

from app.assembly import assemble
from broker import config
from broker import logging as broker_logging
from broker.emulators.dc.simulator import DataCentre
from broker.emulators.kit import CardKit
from broker.emulators.serial_reader import SerialReaderEmulator
from broker.emulators.vpcd import DEFAULT_PORT, run_until_stopped
from dcsim.server import DcSimulator

log = structlog.get_logger("broker.cli")

# What the sim profile's serial reader (COM1) holds: the manual's physical
# test SAM, test HPC and test patient.
SIM_SERIAL_CARDS = {"SAM": "900000000101", "HPC": "100000291508", "HC": "900000000711"}


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

    serve = commands.add_parser("serve", help="run the broker")
    serve.add_argument("--profile", choices=["sim", "hardware"], default="sim")
    serve.add_argument("--port", type=int, default=5066)
    serve.add_argument("--data-dir", default=None, help="settings and cloud-SAM store")
    serve.add_argument("--config", default=None, help="TOML file (hardware profile)")

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
    kit.add_parser("cards", help="list the kit's cards")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    broker_logging.configure(level=args.log_level)
    if args.command == "serve":
        return serve(args.profile, args.data_dir)
    if args.kit_command == "vpcd":
        return kit_vpcd(args.card, args.port)
    if args.kit_command == "serial":
        return kit_serial()
    if args.kit_command == "dc":
        return kit_dc(args.port, args.control_port, args.data_dir)
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
    log.info("kit.serial_ready", tty=reader.path, cards=SIM_SERIAL_CARDS)
    wait_for_stop_signal()
    reader.stop()
    return 0


def kit_dc(port: int, control_port: int, data_dir: str | None) -> int:
    """Run the data-centre simulator until SIGTERM or Ctrl-C."""
    directory = Path(data_dir) if data_dir else default_data_dir() / "dc-simulator"
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


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/nhi-broker`` (``~/.local/share/nhi-broker``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nhi-broker"


def kit_cards() -> int:
    """Print the kit's cards, one per line."""
    for card in CardKit().listing():
        name = (
            card.fields.get("name") or card.fields.get("c_name") or card.fields.get("hospital_name")
        )
        print(f"{card.id}  {card.kind:<3}  {card.fields['environment']}  {name or ''}")
    return 0


def serve(profile: str, data_dir: str | None = None) -> int:
    """Run the broker: the actors, the kit (sim profile), the data centre."""
    if profile != "sim":
        print("nhi-broker: the hardware profile is not available yet", file=sys.stderr)
        return 2
    settings = config.sim_profile()
    if data_dir:
        settings = dataclasses.replace(settings, data_dir=Path(data_dir))
    broker = assemble(settings)
    log.info(
        "broker.kit_ready",
        profile=profile,
        stations=[s.name for s in settings.stations],
        data_dir=str(settings.data_dir),
        note="actors and virtual card kit running; the Web API and console are not served yet",
    )
    wait_for_stop_signal()
    broker.close()
    return 0


def start_sim_serial_reader(kit: CardKit) -> SerialReaderEmulator:
    """COM1 of the sim profile, its slots filled."""
    reader = SerialReaderEmulator("COM1")
    reader.start()
    for slot, card_id in SIM_SERIAL_CARDS.items():
        reader.insert(slot, kit.card(card_id))
    return reader


def wait_for_stop_signal() -> None:
    """Block until SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    stop.wait()
