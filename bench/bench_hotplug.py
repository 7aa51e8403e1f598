"""How long a card insert or removal takes to reach the read model, per transport.

Measured from the moment the card moves (an in-process reader's insert, the
emulated serial reader's slot) to the moment ``board`` shows the new HC
state. Goal: within 100 ms.

    .venv/bin/python bench/bench_hotplug.py [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pykka

from actors.messages import Context
from broker import config as broker_config
from broker import logging as broker_logging
from broker.arguments import Arguments
from broker.rules import Function
from broker.state import HcStatus, StateBoard, StationState
from broker.transport.serial_frames import Slot
from nhi_broker.assembly import assemble
from nhi_broker.serve import SWITCH_INTERVAL

GOAL_MS = 100.0


def _time_until(
    board: StateBoard, move: Callable[[], None], done: Callable[[StationState], bool]
) -> float:
    start = time.perf_counter()
    move()
    if board.wait_for("local", done, 5.0) is None:
        raise SystemExit("the read model never changed")
    return (time.perf_counter() - start) * 1000


def main() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL)  # as the program's entry point sets it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run: 3 rounds")
    parser.add_argument("--rounds", type=int, help="inserts and removals of each (default 50)")
    args = parser.parse_args()
    args.rounds = args.rounds or (3 if args.quick else 50)
    broker_logging.configure(level=logging.WARNING)
    data = Path(tempfile.mkdtemp())
    broker = assemble(dataclasses.replace(broker_config.sim_profile(), data_dir=data))
    kit = broker.kit
    assert kit is not None
    context = Context("bench", "bench", "local")
    present = lambda s: s.hc_status is HcStatus.PRESENT  # noqa: E731
    absent = lambda s: s.hc_status is HcStatus.NONE  # noqa: E731
    results: dict[str, list[float]] = {}
    for device, move_out, move_in in (
        (
            "901000000047",
            kit.local_slots["Virtual Reader 0"].remove,
            lambda: kit.local_slots["Virtual Reader 0"].insert(kit.cards.card("900000000711")),
        ),
        (
            "COM1",
            lambda: kit.serial["COM1"].remove(Slot.HC),
            lambda: kit.serial["COM1"].insert(Slot.HC, kit.cards.card("900000000735")),
        ),
    ):
        broker.supervisor.call("local", Function.INITIAL, Arguments(name=device), context, 10)
        samples = []
        for _ in range(args.rounds):
            samples.append(_time_until(broker.board, move_out, absent))
            samples.append(_time_until(broker.board, move_in, present))
        results["in-process reader" if device != "COM1" else "serial reader (pty)"] = samples
        broker.supervisor.call("local", Function.FINALIZE, Arguments(), context, 10)
    broker.close()
    pykka.ActorRegistry.stop_all()
    print(f"card insert/remove → read model, {args.rounds} of each")
    worst = 0.0
    for name, samples in results.items():
        ordered = sorted(samples)
        p99 = ordered[int(len(ordered) * 0.99) - 1]
        worst = max(worst, p99)
        print(f"  {name:<22} p50 {statistics.median(samples):7.2f} ms   p99 {p99:7.2f} ms")
    print(f"  goal: within {GOAL_MS:.0f} ms: {'met' if worst <= GOAL_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
