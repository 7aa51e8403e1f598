"""Who the real HTTPS server answers, and that slow calls and open streams hold none up.

A request naming a foreign host is 421 for every method, the broker's own names are
served, and a LAN caller that sends and closes at once never runs as ``local``; a closed
event stream frees its slot, and Status answers while calls wait on a slow DC.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import socket
import threading
import urllib.parse
from pathlib import Path

import pykka
import pytest

from broker import config
from nhi_broker.serve import RunningServer, start
from tests.api.https_client import STATUS, HisClient, kit_of, unverified

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
FOREIGN = ("evil.example", "evil.example:5066", "localhost.evil.example", "127.0.0.1.nip.io")


def raw_request(server: RunningServer, head: str, body: bytes = b"") -> bytes:
    """One request over a fresh TLS connection; the whole answer."""
    parsed = urllib.parse.urlsplit(server.url)
    with (
        socket.create_connection((parsed.hostname or "", parsed.port or 0), timeout=30) as raw,
        unverified().wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(head.encode() + body)
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", ["/api/hc/v1/BasicData", "/api/common/v1/Status", "/console"])
def test_a_request_naming_a_foreign_host_is_421_for_every_method(
    server: RunningServer, method: str, path: str, log_lines: io.StringIO
) -> None:
    for host in FOREIGN:
        head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        answer = raw_request(server, head + "Content-Length: 2\r\n\r\n", b"{}")
        assert answer.startswith(b"HTTP/1.1 421 "), (host, answer[:100])
    calls = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    refused = [c for c in calls if c.get("event") == "api.call" and c.get("path") == path]
    assert [(c["status"], c["station"], c["code"]) for c in refused] == [(421, "-", None)] * 4


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "LOCALHOST."])
def test_the_brokers_own_names_are_served(server: RunningServer, host: str) -> None:
    port = urllib.parse.urlsplit(server.url).port
    head = f"GET /api/common/v1/Status HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    assert raw_request(server, head).startswith(b"HTTP/1.1 200 ")


def test_a_closed_event_stream_frees_its_slot_within_two_seconds(server: RunningServer) -> None:
    slots = server.services.streams
    assert slots is not None
    parsed = urllib.parse.urlsplit(server.url)
    with (
        socket.create_connection((parsed.hostname or "", parsed.port or 0), timeout=30) as raw,
        unverified().wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"GET /api/events/v1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        seen = b""
        while b"event: status" not in seen:
            seen += tls.recv(4096)
        assert slots.open == 1
    assert slots.wait_for(0, 2.0)  # at the next keepalive, half a second on an idle machine


def test_status_answers_while_calls_wait_on_a_slow_dc_and_streams_are_open(
    server: RunningServer, his: HisClient
) -> None:
    his.call("POST", "/api/common/v1/Initial", {"name": "901000000047"})  # a cloud SAM
    kit_of(server).dc.set_faults(latency_ms=2000)
    streams = [HisClient(server.url, unverified()) for _ in range(4)]
    for stream in streams:
        stream.open_stream("/api/events/v1")
    slots = server.services.streams
    assert slots is not None
    assert slots.wait_for(4, 10.0)
    waiting = [
        threading.Thread(target=HisClient(server.url, unverified()).send, args=(m, p, b"{}"))
        for m, p in [("GET", "/api/common/v1/ReaderTime")] * 3
    ]
    for thread in waiting:
        thread.start()
    fresh = HisClient(server.url, unverified())
    assert fresh.call("GET", STATUS)["statusCode"] == 0
    assert fresh.call("GET", "/api/common/v1/Version")["statusCode"] == 0
    assert all(thread.is_alive() for thread in waiting), "Status waited for the DC"
    kit_of(server).dc.set_faults(latency_ms=0)
    for thread in waiting:
        thread.join(30)
    for client in [*streams, fresh]:
        client.close()


def lan_address() -> str:
    """This machine's address on its network (no packet is sent: it only picks the route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        return str(probe.getsockname()[0])


def test_a_lan_caller_that_sends_and_closes_at_once_never_runs_as_local(
    tmp_path: Path, log_lines: io.StringIO
) -> None:
    address = lan_address()
    sim = config.sim_profile()
    lan = config.StationConfig("lan", hashlib.sha256(b"a token").hexdigest())
    settings = dataclasses.replace(
        sim, host=address, port=0, data_dir=tmp_path / "data", stations=(*sim.stations, lan)
    )
    running = start(settings)
    try:
        port = urllib.parse.urlsplit(running.url).port or 0
        for n in range(100):
            body = json.dumps({"host": f"evil-{n}.example"}).encode()
            head = (
                f"POST /api/settings/v1/Cors/Add HTTP/1.1\r\nHost: {address}:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            with (
                socket.create_connection((address, port), timeout=30) as raw,
                unverified().wrap_socket(raw, server_hostname="localhost") as tls,
            ):
                tls.sendall(head.encode() + body)  # and most close at once
                if n % 10 == 0:  # these wait for their answer: some surely arrive
                    assert tls.recv(4096).startswith(b"HTTP/1.1 401 ")
    finally:
        running.stop()  # drains: every request HAProxy took has been answered
        pykka.ActorRegistry.stop_all()
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    adds = [c for c in lines if c.get("event") == "api.call" and c["path"].endswith("Cors/Add")]
    assert len(adds) >= 10
    assert {(c["client"], c["station"], c["status"]) for c in adds} == {(address, "-", 401)}
    assert not any(h.startswith("evil-") for h in running.broker.settings.cors_hosts)
