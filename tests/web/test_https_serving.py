"""HTTPS through a real HAProxy in front of real waitress pools, with real TLS clients."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import falcon
import pytest
import structlog

from nhi_https import runtime
from nhi_https.certificates import ensure_certificate
from nhi_https.haproxy import HEADER_LIMIT, Control, Limits
from nhi_https.https import HttpsServer, PoolSpec, maxconn_for
from nhi_https.server import Address
from nhi_https.terminator import NO_LIMIT, LimitWatch, route_line
from tests.flood import closed_by_server, once_refusals_end, silent_flood

WAIT = 10.0


class WhoAmI:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"client": req.remote_addr, "scheme": req.scheme}


class Hold:
    """Answers only once the test lets it: a request in flight."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.arrived = threading.Semaphore(0)  # one per request that reached the app
        self.release = threading.Event()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.entered.set()
        self.arrived.release()
        self.release.wait(WAIT)
        resp.media = {"held": True}


class Ticks:
    """A stream that writes a comment every 0.1 s, ten times (an event stream's keepalives)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        tick = threading.Event()  # never set: the pause between writes

        def frames() -> Iterator[bytes]:
            for _ in range(10):
                tick.wait(0.1)
                yield b": tick\n\n"

        resp.content_type = "text/event-stream"
        resp.stream = frames()


@pytest.fixture
def hold() -> Hold:
    return Hold()


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return ensure_certificate(tmp_path / "tls", "localhost")


def serve(
    tmp_path: Path, cert: tuple[Path, Path], hold: Hold, limits: Limits | None = None
) -> HttpsServer:
    app = falcon.App()
    app.add_route("/whoami", WhoAmI())
    app.add_route("/hold", hold)
    app.add_route("/ticks", Ticks())
    server = HttpsServer(
        app,
        "127.0.0.1",
        0,
        cert=cert[0],
        key=cert[1],
        run_dir=tmp_path / "serve",
        pools=(
            PoolSpec("calls", 2, 30.0),
            PoolSpec("quick", 2, 10.0, paths=("/whoami",), reserved=True),
        ),
        limits=limits,
    )
    server.start()
    return server


@pytest.fixture
def server(tmp_path: Path, cert: tuple[Path, Path], hold: Hold) -> Iterator[HttpsServer]:
    running = serve(tmp_path, cert, hold)
    yield running
    hold.release.set()
    running.stop(1.0)


def client_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert[0]))


def get(
    address: Address, cert: tuple[Path, Path], path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPSConnection(
        "localhost", address[1], context=client_context(cert), timeout=WAIT
    )
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def tls_socket(address: Address, cert: tuple[Path, Path]) -> ssl.SSLSocket:
    raw = socket.create_connection(address, timeout=WAIT)
    return client_context(cert).wrap_socket(raw, server_hostname="localhost")


def test_the_app_sees_the_client_address_haproxy_saw_not_a_forged_one(
    server: HttpsServer, cert: tuple[Path, Path]
) -> None:
    forged = {"X-Forwarded-For": "192.0.2.9", "Forwarded": "for=192.0.2.9;proto=http"}
    status, answer = get(server.address, cert, "/whoami", forged)
    assert (status, answer) == (200, {"client": "127.0.0.1", "scheme": "https"})


def test_waitress_and_haproxys_runtime_api_listen_only_on_private_unix_sockets(
    server: HttpsServer, tmp_path: Path
) -> None:
    run_dir = tmp_path / "serve"
    assert run_dir.stat().st_mode & 0o777 == 0o700
    sockets = sorted(p.name for p in run_dir.glob("*.sock"))
    assert sockets == ["calls.sock", "cli.sock", "quick.sock"]
    assert all((run_dir / s).stat().st_mode & 0o777 == 0o600 for s in sockets)
    assert (run_dir / "tls.pem").stat().st_mode & 0o777 == 0o600


def test_slow_and_silent_clients_do_not_keep_a_new_connection_waiting(
    server: HttpsServer, cert: tuple[Path, Path]
) -> None:
    crawling = [tls_socket(server.address, cert) for _ in range(100)]
    for conn in crawling:  # a header block that is never finished
        conn.sendall(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nX-Slow: a")
    mute = [tls_socket(server.address, cert) for _ in range(50)]  # TLS done, then nothing
    silent = [socket.create_connection(server.address, timeout=WAIT) for _ in range(50)]
    try:
        # Well before HAProxy's 10 s header timeout would free anything.
        assert get(server.address, cert, "/whoami")[0] == 200
        assert get(server.address, cert, "/whoami")[0] == 200
    finally:
        for sock in [*crawling, *mute, *silent]:
            sock.close()


def test_a_flood_past_the_connection_limit_is_refused_at_once_and_the_port_answers_after_it(
    tmp_path: Path, cert: tuple[Path, Path], hold: Hold
) -> None:
    server = serve(tmp_path, cert, hold, Limits(maxconn=16))
    try:
        flood = silent_flood(server.address, 64)  # as a port scan or a stuck client sends
        assert closed_by_server(flood, 50, within=WAIT) == 50  # 14 held, the rest refused
        for sock in flood:
            sock.close()
        answer = once_refusals_end(lambda: get(server.address, cert, "/whoami"), within=WAIT)
        assert answer[0] == 200
    finally:
        server.stop(1.0)


def test_a_slow_call_leaves_the_quick_pool_free(
    server: HttpsServer, cert: tuple[Path, Path], hold: Hold
) -> None:
    held = [threading.Thread(target=get, args=(server.address, cert, "/hold")) for _ in range(3)]
    for thread in held:  # more than the calls pool's threads: one waits in HAProxy's queue
        thread.start()
    assert hold.entered.wait(WAIT)
    assert get(server.address, cert, "/whoami")[0] == 200
    assert all(thread.is_alive() for thread in held)
    hold.release.set()
    for thread in held:
        thread.join(WAIT)


def test_a_header_timeout_is_logged_as_haproxy_saw_it(
    tmp_path: Path, cert: tuple[Path, Path], hold: Hold
) -> None:
    with structlog.testing.capture_logs() as logs:
        server = serve(tmp_path, cert, hold, Limits(maxconn=64, request=0.3))
        try:
            with tls_socket(server.address, cert) as conn:
                conn.sendall(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\n")
                answer = conn.recv(4096)
        finally:
            server.stop(1.0)
    assert answer.startswith(b"HTTP/1.1 408 ")
    [line] = [e for e in logs if e["event"] == "tls.request"]
    assert (line["status"], line["client"], line["termination"]) == (408, "127.0.0.1", "cR")


def test_a_stream_that_keeps_writing_outlives_the_client_timeout(
    tmp_path: Path, cert: tuple[Path, Path], hold: Hold
) -> None:
    server = serve(tmp_path, cert, hold, Limits(maxconn=64, client=0.3))
    try:
        with tls_socket(server.address, cert) as conn:
            conn.sendall(b"GET /ticks HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            received = b""
            while chunk := conn.recv(4096):
                received += chunk
    finally:
        server.stop(1.0)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.count(b": tick") == 10  # a second of silence from the client, not cut


def test_a_dead_haproxy_is_started_again_and_serves_on_the_same_port(
    server: HttpsServer, cert: tuple[Path, Path]
) -> None:
    first = server.terminator.pid
    assert first is not None
    with structlog.testing.capture_logs() as logs:
        os.kill(first, signal.SIGKILL)
        assert server.terminator.wait_for(lambda pid: pid not in (None, first), WAIT)
    assert get(server.address, cert, "/whoami")[0] == 200
    assert [e["pid"] for e in logs if e["event"] == "tls.died"] == [first]


def test_a_stop_refuses_new_requests_at_once_and_lets_the_one_in_flight_finish(
    server: HttpsServer, cert: tuple[Path, Path], hold: Hold
) -> None:
    answers: list[tuple[int, dict[str, object]]] = []
    held = threading.Thread(target=lambda: answers.append(get(server.address, cert, "/hold")))
    held.start()
    assert hold.entered.wait(WAIT)
    stopping = threading.Thread(target=server.stop, args=(WAIT,))
    stopping.start()
    assert server.terminator.draining.wait(WAIT)
    connection = http.client.HTTPSConnection(
        "localhost", server.address[1], context=client_context(cert), timeout=WAIT
    )
    try:
        connection.request("GET", "/whoami")
        refused = connection.getresponse()
        body = json.loads(refused.read())
    finally:
        connection.close()
    assert (refused.status, refused.getheader("Retry-After")) == (503, "2")
    assert body["title"] == "the broker is stopping"
    assert held.is_alive()  # refused while the request in flight still runs
    assert stopping.is_alive()  # the stop waits for it
    hold.release.set()
    held.join(WAIT)
    stopping.join(WAIT)
    assert answers == [(200, {"held": True})]
    with pytest.raises(ConnectionRefusedError):
        get(server.address, cert, "/whoami")


def test_haproxy_counts_the_requests_a_stop_waits_for_those_queued_too(
    server: HttpsServer, cert: tuple[Path, Path], hold: Hold, tmp_path: Path
) -> None:
    serve_dir = tmp_path / "serve"
    control = Control(serve_dir / "cli.sock", serve_dir / "refusals.acl")
    assert runtime.in_flight(control) == 0
    held = [threading.Thread(target=get, args=(server.address, cert, "/hold")) for _ in range(3)]
    for thread in held:  # the calls pool has two threads: one waits in HAProxy's queue
        thread.start()
    assert hold.entered.wait(WAIT)
    assert get(server.address, cert, "/whoami")[0] == 200  # answered: not in flight after
    deadline = time.monotonic() + WAIT
    while runtime.in_flight(control) != len(held):  # two in the pool, the third queued
        assert time.monotonic() < deadline
    hold.release.set()
    for thread in held:
        thread.join(WAIT)
    assert runtime.in_flight(control) == 0


def test_maxconn_leaves_room_for_both_sockets_of_each_connection() -> None:
    assert maxconn_for(1024) == 480
    assert maxconn_for(1 << 20) == 4096


def test_a_request_on_a_pool_socket_without_a_client_address_is_refused(
    server: HttpsServer, tmp_path: Path
) -> None:
    with socket.socket(socket.AF_UNIX) as direct:
        direct.settimeout(WAIT)
        direct.connect(str(tmp_path / "serve" / "quick.sock"))
        direct.sendall(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := direct.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"no client address" in answer


def answer(conn: ssl.SSLSocket, request: bytes) -> bytes:
    """Everything the server sends back until it closes the connection."""
    conn.sendall(request)
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    return received


def json_body(response: bytes) -> dict[str, object]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"\r\ncontent-type: application/json" in head.lower()
    parsed: dict[str, object] = json.loads(body)
    return parsed


def test_header_fields_over_the_limit_are_refused_with_431_in_the_apis_json(
    server: HttpsServer, cert: tuple[Path, Path]
) -> None:
    big = b"X-Big: " + b"a" * (HEADER_LIMIT + 1) + b"\r\n"
    with tls_socket(server.address, cert) as conn:
        response = answer(conn, b"GET /whoami HTTP/1.1\r\nHost: localhost\r\n" + big + b"\r\n")
    assert response.startswith(b"HTTP/1.1 431 ")
    body = json_body(response)
    assert body["title"] == "431 Request Header Fields Too Large"


def test_a_request_haproxy_gives_up_on_is_answered_in_the_apis_json(
    tmp_path: Path, cert: tuple[Path, Path], hold: Hold
) -> None:
    server = serve(tmp_path, cert, hold, Limits(maxconn=64, queue=0.3))
    held = [threading.Thread(target=get, args=(server.address, cert, "/hold")) for _ in range(2)]
    try:
        for thread in held:  # both of the calls pool's threads
            thread.start()
        assert all(hold.arrived.acquire(timeout=WAIT) for _ in held)
        with tls_socket(server.address, cert) as conn:  # waits in the queue, then gives up
            response = answer(conn, b"GET /hold HTTP/1.1\r\nHost: localhost\r\n\r\n")
    finally:
        hold.release.set()
        for thread in held:
            thread.join(WAIT)
        server.stop(1.0)
    assert response.startswith(b"HTTP/1.1 503 ")
    assert json_body(response) == {
        "title": "503 Service Unavailable",
        "description": "the API server is busy or stopping: try again",
    }


def test_crowded_connections_leave_the_reserved_paths_served_and_refuse_the_rest_at_once(
    tmp_path: Path, cert: tuple[Path, Path], hold: Hold
) -> None:
    with structlog.testing.capture_logs() as logs:
        server = serve(tmp_path, cert, hold, Limits(maxconn=16, quick_only=4))
        crowd = [tls_socket(server.address, cert) for _ in range(4)]  # TLS done, then nothing
        try:
            refused = []
            for _ in range(3):
                with tls_socket(server.address, cert) as conn:
                    refused.append(answer(conn, b"GET /hold HTTP/1.1\r\nHost: localhost\r\n\r\n"))
            status, _ = get(server.address, cert, "/whoami")
        finally:
            for sock in crowd:
                sock.close()
            server.stop(1.0)
    assert status == 200
    assert not hold.entered.is_set()  # refused before reaching the app
    assert all(r.startswith(b"HTTP/1.1 503 ") for r in refused)
    assert "only the quick paths" in str(json_body(refused[0])["description"])
    assert [e["limit"] for e in logs if e["event"] == "tls.request"] == ["connections"] * 3
    [reached] = [e for e in logs if e["event"] == "tls.limit_reached"]
    assert (reached["limit"], reached["connections"]) == ("connections", 5)


def test_a_connection_beyond_maxconn_is_closed_at_once_not_left_waiting(
    tmp_path: Path, cert: tuple[Path, Path], hold: Hold
) -> None:
    server = serve(tmp_path, cert, hold, Limits(maxconn=8))  # one spare: 7 held
    held = [tls_socket(server.address, cert) for _ in range(7)]
    try:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            tls_socket(server.address, cert)  # WAIT bounds a wait in the backlog: a failure
    finally:
        for sock in held:
            sock.close()
        server.stop(1.0)


def test_a_flood_of_refusals_is_told_once_and_again_after_a_quiet_minute() -> None:
    now = [0.0]
    watch = LimitWatch(clock=lambda: now[0])
    line = json.dumps({"status": 503, "connections": 61, "limit": "connections"})
    with structlog.testing.capture_logs() as logs:
        for at in (0.0, 30.0, 89.0, 150.0):  # 59 s apart, then 61 s: a second flood
            now[0] = at
            route_line("stdout", line, watch)
        route_line("stdout", json.dumps({"status": 408, "limit": NO_LIMIT}), watch)
    told = [e for e in logs if e["event"] == "tls.limit_reached"]
    assert [(e["limit"], e["connections"]) for e in told] == [("connections", 61)] * 2
    requests = [e for e in logs if e["event"] == "tls.request"]
    assert [e.get("limit") for e in requests] == ["connections"] * 4 + [None]
