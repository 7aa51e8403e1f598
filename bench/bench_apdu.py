"""Median time per APDU through each transport, measured side by side in one run.

The same health card answers the real READ of its public profile (57 bytes)
through: a direct call (local), pyserial over a pty to the emulated serial
reader, and pyscard through a real pcscd and the vpcd driver. Starts a pcscd
if none with the vpcd readers is running; ``--quick`` (a few rounds) leaves PC/SC out,
so it never starts or uses a pcscd.

    .venv/bin/python bench/bench_apdu.py [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from broker.apdu import ApduChannel, CommandApdu
from broker.cards import commands as cmd
from broker.transport.base import CardConnection
from broker.transport.local import LocalSlot
from broker.transport.pcsc import PcscSlot
from broker.transport.serial import SerialReader
from broker.transport.serial_frames import Slot
from nhi_broker.serve import SWITCH_INTERVAL
from nhi_kit.emulators.card import CardEmulator
from nhi_kit.emulators.kit import CardKit
from nhi_kit.emulators.pcscd import VPCD_PORTS, VPCD_READERS, start_pcscd, stop_pcscd, vpcd_ready
from nhi_kit.emulators.serial_reader import SerialReaderEmulator
from nhi_kit.emulators.vpcd import VpcdBridge

READ = CommandApdu.decode(cmd.HC_READ_PROFILE)
SELECT = CommandApdu(cmd.CLA_ISO, cmd.Ins.SELECT, 0x04, 0x00, cmd.HC_AID)


def median_ms(connection: CardConnection, rounds: int) -> float:
    """Median milliseconds for one READ, after a SELECT and a warm-up."""
    channel = ApduChannel(connection)
    channel.send(SELECT)
    for _ in range(min(20, rounds)):
        channel.send(READ)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        channel.send(READ)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


@contextmanager
def local(card: CardEmulator) -> Iterator[CardConnection]:
    slot = LocalSlot("local")
    slot.insert(card)
    yield slot.connect()


@contextmanager
def serial(card: CardEmulator) -> Iterator[CardConnection]:
    emulator = SerialReaderEmulator("COM1")
    reader = SerialReader(emulator.start(), name="COM1")
    emulator.insert(Slot.HC, card)
    with reader:
        yield reader.slot(Slot.HC).connect()
    emulator.stop()


@contextmanager
def pcsc(card: CardEmulator) -> Iterator[CardConnection]:
    process = None
    if not vpcd_ready():
        process = start_pcscd(Path(tempfile.mkdtemp()) / "pcscd.log")
    bridge = VpcdBridge(card, port=VPCD_PORTS[VPCD_READERS[0]])
    bridge.insert()
    slot = PcscSlot(VPCD_READERS[0])
    try:
        if not slot.wait_for_card(present=True, timeout=5.0):
            raise SystemExit("pcscd did not see the card")
        with slot.connect() as connection:
            yield connection
    finally:
        bridge.remove()
        if process is not None:
            stop_pcscd(process)


PCSC = "PC/SC (pcscd + vpcd)"
TRANSPORTS: dict[str, Callable[[CardEmulator], AbstractContextManager[CardConnection]]] = {
    "local (in process)": local,
    "serial (pty + pyserial)": serial,
    PCSC: pcsc,
}


def main() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL)  # as the program's entry point sets it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, without PC/SC")
    parser.add_argument("--rounds", type=int, help="timed APDUs per transport (default 2000)")
    args = parser.parse_args()
    rounds = args.rounds or (50 if args.quick else 2000)
    card = CardKit().card("900000000711")
    results = {}
    for name, transport in TRANSPORTS.items():
        if args.quick and name == PCSC:
            continue  # it needs pcscd: --quick must run where none may be started
        with transport(card) as connection:
            results[name] = median_ms(connection, rounds)
    base = results["local (in process)"]
    print(f"HC READ profile (57 bytes), median of {rounds} APDUs")
    for name, ms in results.items():
        print(f"  {name:<26} {ms:8.3f} ms   {ms / base:6.1f}x local")
    if PCSC not in results:
        print(f"  {PCSC:<26} skipped with --quick (needs pcscd; run without --quick)")


if __name__ == "__main__":
    main()
