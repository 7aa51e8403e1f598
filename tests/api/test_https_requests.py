"""What any request meets at the real HTTPS server: its certificate, bodies, and callers.

Clients that verify the certificate and those that do not; the real client address in
the access log; bodies on GET and DELETE, and over 64 KiB (413); a caller off this
machine without a token (401); plain HTTP on loopback.
"""

from __future__ import annotations

import dataclasses
import http.client
import io
import json
import socket
import urllib.parse
from pathlib import Path

import falcon.testing
import pykka

from api.app import BODY_LIMIT
from api.services import ApiServices
from broker import config
from broker.codes import Code
from nhi_broker.serve import RunningServer, start
from nhi_broker.webapp import broker_app
from tests.api.https_client import HisClient, trusting, unverified


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
