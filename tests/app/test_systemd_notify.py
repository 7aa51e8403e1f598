"""``serve`` tells systemd when it is ready and when it stops (Type=notify), over a real
unix datagram socket given as ``NOTIFY_SOCKET``."""

from __future__ import annotations

import json
import os
import socket
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import serving


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """What systemd listens on: a unix datagram socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(30)  # a deadline for a broken test, not a wait for anything
        yield sock


def test_serve_sends_ready_once_it_answers_and_stopping_on_sigterm(
    notify_socket: socket.socket, tmp_path: Path
) -> None:
    env = {**os.environ, "NOTIFY_SOCKET": notify_socket.getsockname()}
    with serving("--profile", "sim", "--data-dir", str(tmp_path / "data"), env=env) as served:
        ready = notify_socket.recv(4096).decode().splitlines()
        assert ready[0] == "READY=1"
        assert ready[1] == f"STATUS=serving {served.ready['console']}"
        # it answered when it said so
        trusted = ssl.create_default_context(cafile=str(tmp_path / "data" / "tls" / "ca.crt"))
        status = f"{served.url}/api/common/v1/Status"
        with urllib.request.urlopen(status, context=trusted, timeout=30) as answer:
            assert json.loads(answer.read())["statusCode"] == 0
        remaining = served.stop()
        assert notify_socket.recv(4096) == b"STOPPING=1"
        assert served.process.returncode == 0, remaining


def test_serve_sends_ready_to_an_abstract_notify_socket(tmp_path: Path) -> None:
    name = f"nhi-broker-test-{os.getpid()}-{tmp_path.name}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(30)
        env = {**os.environ, "NOTIFY_SOCKET": "@" + name}
        with serving("--profile", "sim", "--data-dir", str(tmp_path / "data"), env=env) as served:
            assert sock.recv(4096).startswith(b"READY=1\n")
            served.stop()


def test_serve_without_notify_socket_runs_as_before(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    with serving("--profile", "sim", "--data-dir", str(tmp_path / "data"), env=env) as served:
        served.stop()
        assert served.process.returncode == 0
