"""Serving under hostile or heavy load: the figures of issue 12, measured again.

(a) Status on a new connection while 100 clients crawl through their headers
    (a byte a second) and 100 more connect and say nothing: p50/p99/max,
    beside the same with no one else connected; the broker's thread count.
(b) 1,100 connections at a 1,024 open-file limit (hard): whether Status
    answers while they are open, and how soon it answers after they close.
(c) Churn from this machine's LAN address (the broker bound to it): many
    short connections, a third of them sending ``Cors/Add`` without a token
    and closing at once. Every log line must carry the LAN address; no
    ``Cors/Add`` may run as the station ``local``.
(d) Status p99 with 10 calls waiting on a 3 s DC and 4 event streams open,
    beside Status p99 with nothing in flight.
(e) How soon a closed event stream's slot is free (the metrics gauge).

The broker runs in a child process (its own GIL and open-file limit), the
sim profile with one extra token station ``lan``. About 90 s.

    .venv/bin/python bench/bench_serving.py [--part abcde] [--quick]
"""

from __future__ import annotations

import os
import sys

sys.path.pop(0)  # this folder would shadow the standard library's ``http``
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse
import contextlib
import dataclasses
import hashlib
import http.client
import json
import resource
import signal
import socket
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from broker import config
from broker import logging as broker_logging
from nhi_broker.serve import start

STATUS = "/api/common/v1/Status"
LAN_TOKEN = "bench-serving-lan-token"
CLOUD_SAM = "901000000047"
FD_LIMIT = 1024


# --- the broker in a child process ---------------------------------------------------


def child(host: str, data_dir: str, log_path: str, fd_limit: int) -> None:
    """Run in the child: serve until stdin closes; print the URL first."""
    if fd_limit:
        resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))
    sim = config.sim_profile()
    lan = config.StationConfig("lan", hashlib.sha256(LAN_TOKEN.encode()).hexdigest())
    settings = dataclasses.replace(
        sim, host=host, port=0, data_dir=Path(data_dir), stations=(*sim.stations, lan)
    )
    with open(log_path, "w") as log:
        broker_logging.configure(json=True, level="info", stream=log)
        running = start(settings)
        print(running.url.replace("localhost", host), flush=True)
        sys.stdin.read()
        running.stop()


@dataclasses.dataclass
class Broker:
    url: str
    host: str
    port: int
    log: Path
    process: subprocess.Popen[str]


@contextlib.contextmanager
def broker(host: str = "127.0.0.1", fd_limit: int = 0) -> Iterator[Broker]:
    directory = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    log = directory / "broker.log"
    command = [sys.executable, __file__, "--child", host, str(directory / "data"), str(log)]
    process = subprocess.Popen(
        [*command, str(fd_limit)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdin is not None
    url = process.stdout.readline().strip()
    if not url:
        raise SystemExit("the broker did not start")
    port = int(url.rsplit(":", 1)[1])
    try:
        yield Broker(url, host, port, log, process)
    finally:
        process.stdin.close()
        process.wait(60)


# --- clients -----------------------------------------------------------------------


def unverified() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


CONTEXT = unverified()


def call(
    b: Broker, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    """One request on a new connection."""
    connection = http.client.HTTPSConnection(b.host, b.port, context=CONTEXT, timeout=30)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        connection.request(method, path, body=json.dumps(body or {}).encode(), headers=headers)
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw.startswith(b"{") else raw
    finally:
        connection.close()


def status_ms(b: Broker, count: int = 40) -> list[float]:
    """Status on ``count`` new connections, one after another: milliseconds each."""
    times = []
    for _ in range(count):
        begin = time.perf_counter()
        status, _ = call(b, "GET", STATUS)
        if status != 200:
            raise SystemExit(f"Status answered HTTP {status}")
        times.append((time.perf_counter() - begin) * 1000)
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):7.1f} ms  p99 {p99:7.1f} ms  max {ordered[-1]:7.1f} ms"


def tls_connect(b: Broker) -> ssl.SSLSocket:
    raw = socket.create_connection((b.host, b.port), timeout=30)
    return CONTEXT.wrap_socket(raw, server_hostname="localhost")


# --- (a) slow and silent clients -----------------------------------------------------


def crawl(sockets: list[ssl.SSLSocket], stop: threading.Event) -> None:
    """A byte a second on each connection, never ending the header block."""
    while not stop.wait(1.0):
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.sendall(b"a")


def threads_of(pid: int) -> int:
    """How many threads a process runs now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise SystemExit(f"no thread count for process {pid}")


def part_a() -> None:
    with broker() as b:
        idle = status_ms(b)
        threads_idle = threads_of(b.process.pid)
        crawling = [tls_connect(b) for _ in range(100)]
        for sock in crawling:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        silent = [socket.create_connection((b.host, b.port)) for _ in range(100)]
        stop = threading.Event()
        threading.Thread(target=crawl, args=(crawling, stop), daemon=True).start()
        loaded = status_ms(b)
        threads_loaded = threads_of(b.process.pid)
        stop.set()
        for each in [*crawling, *silent]:
            each.close()
    print("(a) Status on a new connection:")
    print(f"    nobody else connected          : {summary(idle)}")
    print(f"    100 crawling + 100 silent      : {summary(loaded)}  (goal: < 100 ms)")
    print(f"    the broker's threads           : {threads_idle} idle, {threads_loaded} with them")


# --- (b) open-file exhaustion ---------------------------------------------------------


def part_b() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2048:
        raise SystemExit(f"(b) needs 2,048 open files in this process; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with broker(fd_limit=FD_LIMIT) as b:
        flood = []
        for _ in range(1100):
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect((b.host, b.port))
            flood.append(sock)
        during = status_within(b, 3.0)
        for sock in flood:
            sock.close()
        begin = time.perf_counter()
        while not answers_within(b, 5.0):
            if time.perf_counter() - begin > 60:
                raise SystemExit("(b) the broker never answered again")
        after = (time.perf_counter() - begin) * 1000
    print(f"(b) 1,100 connections at a {FD_LIMIT}-file limit:")
    print(f"    Status while they are open     : {during}")
    print(f"    Status after they closed       : answered {after:.0f} ms after the close")


def status_within(b: Broker, seconds: float) -> str:
    """How a Status call fares: answered, refused at once (HAProxy's limit), or no answer."""
    started = time.perf_counter()
    if answers_within(b, seconds):
        return "answered"
    if time.perf_counter() - started < seconds:
        return "refused at once (the connection limit)"
    return f"no answer in {seconds:.0f} s"


def answers_within(b: Broker, seconds: float) -> bool:
    connection = http.client.HTTPSConnection(b.host, b.port, context=CONTEXT, timeout=seconds)
    try:
        connection.request("GET", STATUS, body=b"{}")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


# --- (c) churn and client addresses --------------------------------------------------------


def lan_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: it only picks the route
        return str(probe.getsockname()[0])


def send_and_close(b: Broker, n: int) -> None:
    body = json.dumps({"host": f"churn-{n}.example"}).encode()
    head = (
        f"POST /api/settings/v1/Cors/Add HTTP/1.1\r\nHost: {b.host}:{b.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with tls_connect(b) as sock:
        sock.sendall(head.encode() + body)


def churner(b: Broker, worker: int, rounds: int) -> None:
    for n in range(rounds):
        if n % 3 == 0:
            send_and_close(b, worker * rounds + n)
        else:
            call(b, "GET", "/api/common/v1/Version", token=LAN_TOKEN)


def part_c() -> None:
    address = lan_address()
    with broker(address) as b:
        workers = [threading.Thread(target=churner, args=(b, w, 100)) for w in range(20)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        _, cors = call(b, "GET", "/api/settings/v1/Cors/Get", token=LAN_TOKEN)
    lines = [json.loads(line) for line in b.log.read_text().splitlines()]
    calls = [line for line in lines if line.get("event") == "api.call"]
    wrong = [c for c in calls if c["client"] != address]
    adds = [c for c in calls if c["path"].endswith("Cors/Add")]
    local_adds = [c for c in adds if c["station"] == "local"]
    applied = [h for h in cors.get("hosts", []) if h.startswith("churn-")]
    print(f"(c) churn from {address}: 20 clients x 100 connections, a third send-then-close")
    print(f"    log lines with another address : {len(wrong)} of {len(calls)}")
    print(f"    Cors/Add reaching the broker   : {len(adds)}, as station local: {len(local_adds)}")
    print(f"    Cors/Add applied               : {len(applied)} (goal: 0)")


# --- (d) Status beside slow calls and streams ------------------------------------------


def open_stream(b: Broker) -> ssl.SSLSocket:
    sock = tls_connect(b)
    sock.sendall(b"GET /api/events/v1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    seen = b""
    while b"event: status" not in seen:
        seen += sock.recv(4096)
    return sock


def part_d() -> None:
    with broker() as b:
        call(b, "POST", "/api/common/v1/Initial", {"name": CLOUD_SAM})
        call(b, "POST", "/api/common/v1/Initial", {"name": CLOUD_SAM}, token=LAN_TOKEN)
        idle = status_ms(b, 200)
        call(b, "POST", "/api/sim/v1/Dc/Fault", {"latencyMs": 3000})
        streams = [open_stream(b) for _ in range(4)]
        slow = [
            threading.Thread(
                target=call,
                args=(b, "GET", "/api/common/v1/ReaderTime"),
                kwargs={"token": LAN_TOKEN if n % 2 else None},
            )
            for n in range(10)
        ]
        for thread in slow:
            thread.start()
        busy = status_ms(b, 200)
        in_flight = sum(thread.is_alive() for thread in slow)
        call(b, "POST", "/api/sim/v1/Dc/Fault", {"latencyMs": 0})
        for thread in slow:
            thread.join()
        for sock in streams:
            sock.close()
    print("(d) Status, 200 calls each on a new connection:")
    print(f"    nothing in flight              : {summary(idle)}")
    print(f"    10 calls on a 3 s DC, 4 streams: {summary(busy)}  (goal: p99 <= 50 ms)")
    print(f"        slow calls still in flight at the end: {in_flight} of 10")


# --- (e) a departed stream -----------------------------------------------------------------


def streams_open(b: Broker) -> int:
    _, raw = call(b, "GET", "/metrics")
    for line in raw.decode().splitlines():
        if line.startswith("nhi_broker_event_streams "):
            return int(float(line.split()[-1]))
    raise SystemExit("no nhi_broker_event_streams in the metrics")


def part_e() -> None:
    freed = []
    with broker() as b:
        for _ in range(5):
            sock = open_stream(b)
            sock.close()
            begin = time.perf_counter()
            while streams_open(b):
                if time.perf_counter() - begin > 30:
                    raise SystemExit("(e) the slot was never freed")
            freed.append((time.perf_counter() - begin) * 1000)
    print("(e) a closed event stream's slot is free again after:")
    print(f"    {', '.join(f'{ms:.0f}' for ms in freed)} ms (goal: < 2,000 ms)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="abcde", help="which figures (letters a to e)")
    parser.add_argument("--quick", action="store_true", help="(d) and (e) only: about 20 s")
    args = parser.parse_args()
    if args.quick:
        args.part = "de"
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parts = {"a": part_a, "b": part_b, "c": part_c, "d": part_d, "e": part_e}
    for letter in args.part:
        parts[letter]()


if __name__ == "__main__":
    main()
