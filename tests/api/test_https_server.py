"""The Web API through a real HTTPS server, as today's HIS clients call it.

The ★ paths are replayed in the order a real HIS uses them, over one
keep-alive connection, each answer HTTP 200 with the manual's integer code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import io
import json
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pykka
import pytest

from api.app import BODY_LIMIT
from api.services import ApiServices
from broker import config
from broker import logging as broker_logging
from broker.codes import Code
from broker.state import HcStatus
from broker.transport.serial_frames import Slot
from nhi_broker.assembly import SimKit
from nhi_broker.serve import RunningServer, start
from nhi_broker.webapp import broker_app
from tests.conftest import SETTLE
from tests.pin_pad import PadTypist

COM1_DOCTOR_PIN, COM1_DOCTOR_PUK = "222222", "22222222"
COM1_HC, COM1_DOCTOR, COM1_SAM = "900000000735", "100000291539", "900000000101"
VIRTUAL_PERSON = "900000000711"  # 吳佳蓉
SIGN = {"serviceType": "01"}
Check = Callable[[dict[str, Any]], None]


class HisClient:
    """One keep-alive HTTPS connection sending JSON bodies on every method, as HIS clients do."""

    def __init__(self, url: str, context: ssl.SSLContext) -> None:
        parsed = urllib.parse.urlsplit(url)
        assert parsed.hostname is not None
        self._connection = http.client.HTTPSConnection(
            parsed.hostname, parsed.port, context=context, timeout=30
        )

    def send(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        """One request with a raw body; the HTTP status and the raw answer."""
        headers = {"Content-Type": "application/json"}
        self._connection.request(method, path, body=body, headers=headers)
        response = self._connection.getresponse()
        return response.status, response.read()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One function call: HTTP 200 asserted, the JSON answer returned."""
        status, raw = self.send(method, path, json.dumps(body or {}).encode())
        assert status == 200, raw
        answer: dict[str, Any] = json.loads(raw)
        assert isinstance(answer["statusCode"], int)
        return answer

    def open_stream(self, path: str) -> None:
        """Send a GET whose answer (an event stream) is never read."""
        self._connection.request("GET", path)

    def close(self) -> None:
        self._connection.close()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log line of the test, as JSON."""
    buffer = io.StringIO()
    broker_logging.configure(stream=buffer, json=True, level="info")
    yield buffer
    broker_logging.reset()


@pytest.fixture
def server(tmp_path: Path, log_lines: io.StringIO) -> Iterator[RunningServer]:
    """The sim profile served over HTTPS on a free loopback port."""
    settings = dataclasses.replace(config.sim_profile(), port=0, data_dir=tmp_path / "data")
    running = start(settings)
    yield running
    running.stop()
    pykka.ActorRegistry.stop_all()


def trusting(server: RunningServer) -> ssl.SSLContext:
    """A client context that verifies the broker's certificate against its own CA."""
    return ssl.create_default_context(cafile=str(server.broker.config.data_dir / "tls/ca.crt"))


def unverified() -> ssl.SSLContext:
    """What today's HIS clients use: ``verify=False``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@pytest.fixture
def his(server: RunningServer) -> Iterator[HisClient]:
    client = HisClient(server.url, trusting(server))
    yield client
    client.close()


def kit_of(server: RunningServer) -> SimKit:
    assert server.broker.kit is not None
    return server.broker.kit


def fields(**expected: Any) -> Check:
    """A check that the answer carries these values."""

    def check(answer: dict[str, Any]) -> None:
        assert {k: answer.get(k) for k in expected} == expected, answer

    return check


def status_is(**expected: Any) -> Check:
    """A check on Status's ``status`` object (nested values compared as given)."""

    def check(answer: dict[str, Any]) -> None:
        status = answer["status"]
        for key, value in expected.items():
            if isinstance(value, dict):
                assert {k: status[key][k] for k in value} == value, status
            else:
                assert status[key] == value, status

    return check


def signed(*keys: str) -> Check:
    """A signature answer with these identity fields beside the signature."""

    def check(answer: dict[str, Any]) -> None:
        assert (answer["samId"], answer["serviceType"]) == (COM1_SAM, "01")
        for key in ("signature", "clientRandom", *keys):
            assert answer[key], (key, answer)

    return check


Step = tuple[str, str, dict[str, Any], Code, Check | None]
STATUS = "/api/common/v1/Status"
HC_PIN = "/api/hc/v1/Pin"

DOCTOR_SIGNS: list[Step] = [
    ("GET", STATUS, {}, Code.OK, status_is(initialized=False)),
    ("POST", "/api/common/v1/Initial", {"name": "COM1"}, Code.OK, None),
    ("POST", "/api/common/v1/Initial", {"name": "COM1"}, Code.ALREADY_INITIALIZED, None),
    ("POST", "/api/sam/v1/Verification", {}, Code.OK, None),
    ("POST", "/api/sam/v1/Signature", SIGN, Code.OK, signed("hospitalId")),
    ("POST", "/api/hpc/v1/Verification/Hpc", {"pin": "000000"}, Code.OK, None),  # a placeholder
    ("POST", "/api/hpc/v1/Signature", SIGN, Code.OK, signed("hpcId", "hpcIdNo")),
    ("POST", "/api/hc/v1/Signature/Hc", SIGN, Code.OK, fields(hcId=COM1_HC)),
    ("POST", "/api/hc/v1/Signature/HpcHc", SIGN, Code.OK, fields(hcId=COM1_HC, hpcId=COM1_DOCTOR)),
    ("GET", HC_PIN, {}, Code.OK, fields(hasPin=False)),  # this patient has no PIN yet
    ("PUT", HC_PIN, {"newPin": "112233"}, Code.OK, None),
    ("GET", HC_PIN, {}, Code.OK, fields(hasPin=True)),
    ("POST", HC_PIN, {"pin": "112233"}, Code.HC_PIN_ALREADY_VERIFIED, None),
]
PATIENT_CAME_BACK: list[Step] = [  # the card was pulled and inserted again: PIN not verified
    ("POST", "/api/hc/v1/Signature/Hc", SIGN, Code.OK, fields(hcId=COM1_HC)),
    ("GET", STATUS, {}, Code.OK, status_is(hc={"hasPin": True, "pinVerified": False})),
    ("POST", HC_PIN, {"pin": "000000"}, Code.HC_PIN_FAILED, None),
    ("POST", HC_PIN, {"pin": "112233"}, Code.OK, None),
    ("DELETE", HC_PIN, {}, Code.OK, None),
    ("GET", HC_PIN, {}, Code.OK, fields(hasPin=False)),
    ("DELETE", "/api/hc/v1/Logout", {}, Code.OK, None),
]


def virtual_card_then_goodbye(token: dict[str, Any]) -> list[Step]:
    """A patient's QR code after the physical card's logout; then everyone logs out."""
    return [
        ("POST", "/api/hc/v1/Verification/VirtualHc", token, Code.OK, None),
        ("GET", STATUS, {}, Code.OK, status_is(hc={"type": 2, "status": 2})),
        ("POST", "/api/hc/v1/Signature/Hc", SIGN, Code.OK, fields(hcId=VIRTUAL_PERSON)),
        (
            "POST",
            "/api/hc/v1/VirtualHc/ReadBasic",
            token,
            Code.OK,
            fields(cardId=VIRTUAL_PERSON, name="吳佳蓉"),
        ),
        ("DELETE", "/api/hc/v1/Logout", {}, Code.OK, None),
        ("POST", "/api/hpc/v1/Pin", {"newPin": "333333"}, Code.OK, None),
        ("DELETE", "/api/hpc/v1/Logout", {}, Code.OK, None),
        (
            "PUT",
            "/api/hpc/v1/Pin",
            {"puk": COM1_DOCTOR_PUK, "newPin": COM1_DOCTOR_PIN},
            Code.OK,
            None,
        ),
        ("POST", "/api/common/v1/Finalize", {}, Code.OK, None),
        ("GET", STATUS, {}, Code.OK, status_is(initialized=False)),
    ]


def test_a_his_session_over_https_takes_every_star_path_in_order(
    server: RunningServer, his: HisClient
) -> None:
    with PadTypist(kit_of(server).serial["COM1"], COM1_DOCTOR_PIN):  # 專屬讀卡機: on the pad
        run(his, DOCTOR_SIGNS)
    reinsert_com1_hc(server)
    run(his, PATIENT_CAME_BACK)
    token = {"token": kit_of(server).dc.dc.issue_token(VIRTUAL_PERSON)}  # a patient's QR code
    run(his, virtual_card_then_goodbye(token))


def reinsert_com1_hc(server: RunningServer) -> None:
    """Pull COM1's health card and put it back; wait until the station sees each move."""
    kit, board = kit_of(server), server.broker.board
    card = kit.cards.card(COM1_HC)
    kit.serial["COM1"].remove(Slot.HC)
    assert board.wait_for("local", lambda s: s.hc_status is HcStatus.NONE, SETTLE)
    kit.serial["COM1"].insert(Slot.HC, card)
    assert board.wait_for("local", lambda s: s.hc_status is HcStatus.PRESENT, SETTLE)


def run(his: HisClient, steps: list[Step]) -> None:
    for method, path, body, code, check in steps:
        answer = his.call(method, path, body)
        assert answer["statusCode"] == int(code), (method, path, answer)
        if check is not None:
            check(answer)


def test_clients_that_do_not_verify_the_certificate_are_served(server: RunningServer) -> None:
    client = HisClient(server.url, unverified())
    try:
        assert client.call("GET", "/api/common/v1/Status")["statusCode"] == 0
        assert client.call("POST", "/api/common/v1/Initial", {"name": "COM1"})["statusCode"] == 0
    finally:
        client.close()


def test_the_certificate_names_localhost_and_loopback(server: RunningServer) -> None:
    context = trusting(server)
    for host in ("localhost", "127.0.0.1"):
        url = server.url.replace("127.0.0.1", host)
        client = HisClient(url, context)
        try:
            assert client.call("GET", "/api/common/v1/Status")["statusCode"] == 0
        finally:
            client.close()


def test_the_real_client_address_reaches_the_access_log(
    server: RunningServer, his: HisClient, log_lines: io.StringIO
) -> None:
    his.call("GET", "/api/common/v1/Version")
    calls = [
        line
        for line in map(json.loads, log_lines.getvalue().splitlines())
        if line.get("event") == "api.call" and line.get("path") == "/api/common/v1/Version"
    ]
    assert [(c["client"], c["station"], c["status"]) for c in calls] == [
        ("127.0.0.1", "local", 200)
    ]


def test_get_and_delete_with_a_body_are_answered(his: HisClient) -> None:
    status, raw = his.send("GET", "/api/common/v1/Status", b'{"anything": 1}')
    assert (status, json.loads(raw)["statusCode"]) == (200, 0)
    status, raw = his.send("DELETE", "/api/hc/v1/Logout", b"{}")
    assert status == 200
    assert json.loads(raw)["statusCode"] == int(Code.NOT_INITIALIZED)  # not initialised yet


def test_a_body_over_64_kib_is_413(server: RunningServer) -> None:
    """The whole oversized body sent, the 413 arrives, and the server serves on."""
    parsed = urllib.parse.urlsplit(server.url)
    head = (
        "POST /api/common/v1/Initial HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {BODY_LIMIT + 1}\r\n\r\n"
    )
    with (
        socket.create_connection((parsed.hostname or "", parsed.port or 0), timeout=30) as raw,
        trusting(server).wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(head.encode() + b" " * (BODY_LIMIT + 1))
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    fresh = HisClient(server.url, trusting(server))
    try:
        assert fresh.call("GET", "/api/common/v1/Status")["statusCode"] == 0
    finally:
        fresh.close()


def test_a_caller_off_this_machine_without_a_token_is_401(server: RunningServer) -> None:
    client = falcon.testing.TestClient(
        broker_app(ApiServices(server.broker)), headers={"Host": "localhost"}
    )
    answer = client.simulate_get("/api/common/v1/Status", json={}, remote_addr="192.0.2.7")
    assert answer.status_code == 401


def test_plain_http_on_loopback_serves_too(tmp_path: Path) -> None:
    settings = dataclasses.replace(
        config.sim_profile(), port=0, tls=False, data_dir=tmp_path / "data"
    )
    running = start(settings)
    try:
        assert running.url.startswith("http://localhost:")
        assert running.certificate is None
        parsed = urllib.parse.urlsplit(running.url)
        connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=30)
        connection.request("GET", "/api/common/v1/Status", body=b"{}")
        assert json.loads(connection.getresponse().read())["statusCode"] == 0
        connection.close()
    finally:
        running.stop()
        pykka.ActorRegistry.stop_all()


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
