"""What the Web API costs: HTTPS read latency against plain pyscard, and status throughput.

(a) GET /api/hc/v1/BasicData through the broker's HTTPS server, against the
    same APDUs sent with plain pyscard to the same kit card in a vpcd slot of
    a real pcscd: the median overhead in ms (card answering at once), and the
    ratio with the card answering in 15 ms per APDU (goal: at most 1.05).
    Alongside, in the same rounds and after the same wait on the card: one
    HTTPS round trip to a bare falcon app returning a fixed JSON behind the
    same stack (HAProxy in front of the same waitress pools). It is the least
    any answer over this stack costs, so it shows the best ratio the stack
    allows and how much is the broker's own. And one plain-HTTP round trip to
    the same bare app on waitress alone: the difference is HAProxy's (TLS
    and the hop to waitress).
(b) GET /api/common/v1/Status with 50 keep-alive HTTPS clients (a separate
    process, so client and server do not share one GIL), against the bare
    app through the same HAProxy and waitress pools, and against the bare
    app on plain waitress, in the same run: requests/s of each, the
    broker's ratio to the bare stack, and the terminator's.

Starts pcscd if none offers the vpcd readers (not with --no-card, which
measures (b) only). About 50 s. ``--quick`` runs (b) alone, briefly and with
few clients: (a) needs pcscd, which a quick run never starts.

    .venv/bin/python bench/bench_http.py [--quick] [--no-card] [--reads N] [--clients 50]
                                         [--seconds S] [--log-level L]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import falcon
from smartcard.scard import SCARD_LEAVE_CARD
from smartcard.System import readers

from api.pools import plain_threads, pools
from broker import config
from broker import logging as broker_logging
from broker.apdu import CommandApdu
from broker.state import HcStatus
from broker.transport.pcsc import PcscSlot
from nhi_broker.serve import SWITCH_INTERVAL, RunningServer, certificate_paths, start
from nhi_https.https import HttpsServer
from nhi_https.server import HttpServer
from nhi_kit.emulators.card import CardEmulator
from nhi_kit.emulators.kit import CardKit
from nhi_kit.emulators.pcscd import VPCD_PORTS, VPCD_READERS, start_pcscd, stop_pcscd, vpcd_ready
from nhi_kit.emulators.vpcd import VpcdBridge

if __package__:  # python -m bench.bench_http
    from bench.http_load import STATUS, call, connect, load
else:  # python bench/bench_http.py: the script's own folder is first on sys.path
    from http_load import STATUS, call, connect, load

READER = VPCD_READERS[0]
PATIENT = "900000000711"  # 吳佳蓉
CLOUD_SAM = "901000000047"
CARD_LATENCY = 0.015  # seconds per APDU, about a real card's
RATIO_GOAL = 1.05
SETTLE = 5.0
ROUNDS = 2  # load runs per server, alternating


# --- (a) latency -------------------------------------------------------------------


@contextlib.contextmanager
def pcscd_running(directory: Path) -> Iterator[None]:
    if vpcd_ready():
        yield
        return
    process = start_pcscd(directory / "pcscd.log")
    try:
        yield
    finally:
        stop_pcscd(process)


@contextlib.contextmanager
def card_in_vpcd(card: CardEmulator) -> Iterator[None]:
    bridge = VpcdBridge(card, port=VPCD_PORTS[READER])
    bridge.insert()
    slot = PcscSlot(READER)
    try:
        if not slot.wait_for_card(present=True, timeout=SETTLE):
            raise SystemExit(f"pcscd never saw the card in {READER}")
        yield
    finally:
        bridge.remove()
        slot.wait_for_card(present=False, timeout=SETTLE)
        slot.close()


def broker_config(data_dir: Path, *, pcsc: bool = True) -> config.BrokerConfig:
    """The sim profile's data centre and cloud SAMs with pcscd's readers, nothing else.

    The station ``local`` reads health cards in vpcd slot 0; no in-process
    readers, no serial reader polling in the background. Without ``pcsc`` it has
    no reader at all (enough for the status throughput).
    """
    sim = config.sim_profile()
    local = config.StationConfig(config.LOCAL, hc_reader=READER if pcsc else None)
    return dataclasses.replace(
        sim,
        port=0,
        data_dir=data_dir,
        pcsc=pcsc,
        stations=(local,),
        serial=(),
        sim=dataclasses.replace(sim.sim, readers={}, serial={}),
    )


def recorded_apdus(card: CardEmulator, read: Callable[[], object]) -> list[bytes]:
    """The command APDUs the card receives during ``read()``."""
    seen: list[bytes] = []

    def hook(_card: CardEmulator, command: CommandApdu) -> None:
        seen.append(command.encode())

    card.hooks.append(hook)
    try:
        read()
    finally:
        card.hooks.remove(hook)
    return seen


def timed_ms(action: Callable[[], object]) -> float:
    begin = time.perf_counter()
    action()
    return (time.perf_counter() - begin) * 1000


@contextlib.contextmanager
def plain_pyscard(apdus: list[bytes]) -> Iterator[Callable[[], object]]:
    """The same APDUs with plain pyscard (a shared connection, as any PC/SC program).

    The card is left powered at the end: pyscard's default would reset it under the broker.
    """
    reader = next(r for r in readers() if str(r) == READER)
    connection = reader.createConnection()
    connection.connect(disposition=SCARD_LEAVE_CARD)
    commands = [list(apdu) for apdu in apdus]
    try:
        yield lambda: [connection.transmit(command) for command in commands]
    finally:
        connection.disconnect()


def latency(
    served: RunningServer, bare: dict[str, str], card: CardEmulator, rounds: int
) -> dict[str, Any]:
    """Median ms of the broker's read, of plain pyscard's and of bare round trips, per card
    speed.

    Each round is: broker read, pyscard read, bare HTTPS round trip, bare
    plain-HTTP round trip, pyscard read. So the broker's read and the bare
    round trips come right after a pyscard read: after the same wait on the
    card, with the machine as idle.
    """
    his, bare_https, bare_plain = connect(served.url), connect(bare[HTTPS]), connect(bare[PLAIN])
    call(his, "POST", "/api/common/v1/Initial", {"name": CLOUD_SAM})
    if served.broker.board.wait_for("local", lambda s: s.hc_status is not HcStatus.NONE, 5) is None:
        raise SystemExit("the broker never saw the card")

    def read() -> object:
        return call(his, "GET", "/api/hc/v1/BasicData")

    def bare_round_trip() -> object:
        return call(bare_https, "GET", STATUS)

    def plain_round_trip() -> object:
        return call(bare_plain, "GET", STATUS)

    read()  # SAM and card verified (state 2): from now on a read is only the card's APDUs
    apdus = recorded_apdus(card, read)
    results: dict[str, Any] = {"apdus": len(apdus)}
    with plain_pyscard(apdus) as plain:
        for label, seconds in (("instant", 0.0), ("15ms", CARD_LATENCY)):
            card.latency = seconds
            read(), plain(), bare_round_trip(), plain_round_trip()  # warm every path
            broker, pyscard, bare_ms, plain_ms = [], [], [], []
            for _ in range(rounds):
                broker.append(timed_ms(read))
                pyscard.append(timed_ms(plain))
                bare_ms.append(timed_ms(bare_round_trip))
                plain_ms.append(timed_ms(plain_round_trip))
                pyscard.append(timed_ms(plain))
            samples = (broker, pyscard, bare_ms, plain_ms)
            results[label] = tuple(statistics.median(s) for s in samples)
    card.latency = 0.0
    for connection in (his, bare_https, bare_plain):
        connection.close()
    return results


# --- (b) throughput ----------------------------------------------------------------


class FixedStatus:
    """The bare app: one fixed JSON answer."""

    BODY = {"statusCode": 0, "message": "成功", "status": {"initialized": False}}  # noqa: RUF012

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.BODY


HTTPS, PLAIN = "bare, HAProxy", "bare, waitress"


@contextlib.contextmanager
def bare_apps(data_dir: Path) -> Iterator[dict[str, str]]:
    """The fixed answer through HAProxy and the broker's pools, and on plain waitress alone."""
    app = falcon.App()
    app.add_route(STATUS, FixedStatus())
    cert, key = certificate_paths(data_dir)
    https = HttpsServer(
        app, "127.0.0.1", 0, cert=cert, key=key, run_dir=data_dir / "serve", pools=pools(30.0)
    )
    plain = HttpServer(app, threads=plain_threads())
    https.start()
    plain.start()
    try:
        yield {HTTPS: https.url, PLAIN: plain.url}
    finally:
        https.stop(1.0)
        plain.stop(1.0)


def measure_throughput(url: str, clients: int, requests: int, seconds: float) -> dict[str, float]:
    """One load run from a separate process (its own GIL)."""
    command = [sys.executable, __file__, "--load", url, "--clients", str(clients)]
    command += ["--requests", str(requests), "--seconds", str(seconds)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def alternate(urls: dict[str, str], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Load each server in turn, ``ROUNDS`` times, so drift on the machine hits both alike."""
    totals = {name: {"requests": 0.0, "seconds": 0.0, "failures": 0.0} for name in urls}
    for _ in range(ROUNDS):
        for name, url in urls.items():
            result = measure_throughput(
                url, args.clients, args.requests // ROUNDS, args.seconds / ROUNDS
            )
            for key, value in result.items():
                totals[name][key] += value
    return totals


# --- main --------------------------------------------------------------------------


def report_latency(results: dict[str, Any]) -> None:
    print(f"(a) HC BasicData, {results['apdus']} APDUs per read, medians:")
    for label, title in (("instant", "card instant   "), ("15ms", "card 15 ms/APDU")):
        broker, plain, bare, bare_plain = results[label]
        ratio, floor = broker / plain, (plain + bare) / plain
        print(f"    {title}: HTTPS {broker:7.2f} ms   pyscard {plain:7.2f} ms")
        print(f"        overhead {broker - plain:.2f} ms, ratio {ratio:.3f}")
        print(
            f"        a bare falcon HTTPS round trip through HAProxy and waitress: {bare:.2f} ms "
            f"(the best ratio over this stack: {floor:.3f}); "
            f"the broker's own part: {broker - plain - bare:.2f} ms"
        )
        print(
            f"        the same on plain waitress: {bare_plain:.2f} ms; "
            f"HAProxy's part: {bare - bare_plain:.2f} ms"
        )
    ratio = results["15ms"][0] / results["15ms"][1]
    verdict = "ok" if ratio <= RATIO_GOAL else "OVER GOAL"
    print(f"    ratio at 15 ms/APDU: {ratio:.3f} (goal <= {RATIO_GOAL}) {verdict}")


def report_throughput(results: dict[str, dict[str, float]], clients: int) -> None:
    rps = {name: r["requests"] / r["seconds"] for name, r in results.items()}
    print(f"(b) GET Status, {clients} keep-alive clients (HTTPS; plain HTTP to waitress alone):")
    for name, result in results.items():
        print(
            f"    {name:<15}: {rps[name]:8.0f} requests/s "
            f"({result['requests']:.0f} in {result['seconds']:.1f} s, "
            f"{result['failures']:.0f} failures)"
        )
    print(f"    ratio broker / bare through HAProxy: {rps['broker'] / rps[HTTPS]:.2f}")
    print(f"    ratio bare through HAProxy / bare on waitress: {rps[HTTPS] / rps[PLAIN]:.2f}")


def main() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL)  # as the program's entry point sets it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="(b) alone, 1 s per server")
    parser.add_argument("--reads", type=int, default=40, help="timed reads per measurement")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20000, help="at most, per server")
    parser.add_argument("--seconds", type=float, default=8.0, help="at most, per server")
    parser.add_argument(
        "--log-level", default="info", help="the broker's (info: one line per call, as deployed)"
    )
    parser.add_argument("--no-card", action="store_true", help="(b) only: no pcscd, no card")
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)  # the load process
    args = parser.parse_args()
    if args.load:
        print(json.dumps(load(args.load, args.clients, args.requests, args.seconds)))
        return
    # The broker as deployed logs every call (info); the lines go nowhere here.
    with open(os.devnull, "w") as sink:
        broker_logging.configure(json=True, level=args.log_level, stream=sink)
        if args.quick:
            run_quick(args)
        else:
            run(args)


def run(args: argparse.Namespace) -> None:
    directory = Path(tempfile.mkdtemp(prefix="bench-http-"))
    if args.no_card:
        sim = dataclasses.replace(config.sim_profile(), port=0, data_dir=directory / "broker")
        report_throughput(against_bare(start(sim), directory, args, None), args.clients)
        return
    card = CardKit().card(PATIENT)
    with pcscd_running(directory), card_in_vpcd(card):
        served = start(broker_config(directory / "broker"))
        results = against_bare(served, directory, args, card)
    report_throughput(results, args.clients)


def against_bare(
    served: RunningServer, directory: Path, args: argparse.Namespace, card: CardEmulator | None
) -> dict[str, dict[str, float]]:
    """(a) when there is a card, then (b)'s load runs; the broker is stopped at the end."""
    try:
        with bare_apps(directory / "bare") as bare:
            if card is not None:
                report_latency(latency(served, bare, card, args.reads))
            return alternate({"broker": served.url, **bare}, args)
    finally:
        served.stop()


def run_quick(args: argparse.Namespace) -> None:
    """(b) with a few clients for a short while per server; (a) is left out: it needs pcscd."""
    args.clients, args.requests, args.seconds = min(args.clients, 4), 2000, 2.0
    print("(a) skipped with --quick (it needs pcscd with the vpcd driver; run without --quick)")
    args.no_card = True
    run(args)


if __name__ == "__main__":
    main()
