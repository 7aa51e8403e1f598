"""``nhi-broker serve``, ``token`` and ``cert export`` as a person (or a test program) runs them."""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import os
import re
import resource
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import tomllib
import urllib.parse
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from broker import config
from nhi_broker.serve import StartupRefusedError, certificate_paths, check_exposure
from tests.flood import closed_by_server, once_refusals_end, silent_flood
from tests.serving import call, station_inbox

NHI_BROKER = Path(sys.executable).parent / "nhi-broker"
TOKEN_LINE = re.compile(r'^(admin_)?token_sha256 = "([0-9a-f]{64})"$')


@dataclasses.dataclass
class Served:
    """A running ``nhi-broker serve`` and what it announced."""

    process: subprocess.Popen[str]
    ready: dict[str, Any]
    data_dir: Path
    haproxy: list[int]  # the pids its log announced

    @property
    def url(self) -> str:
        return str(self.ready["url"])


def nhi_broker(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NHI_BROKER, *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def as_json(line: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def read_until(process: subprocess.Popen[str], wanted: str) -> list[str]:
    """Lines of the process's output up to and including the first containing ``wanted``."""
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if wanted in line:
            return seen
    raise AssertionError(f"the process ended before {wanted!r}:\n{''.join(seen)}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """``nhi-broker serve --profile sim --port 0`` with a fresh data dir, until it is ready."""
    yield from serving(tmp_path)


def serving(tmp_path: Path, files: int | None = None) -> Generator[Served, None, None]:
    data_dir = tmp_path / "data"
    limit = ["prlimit", f"--nofile={files}:{files}", "--"] if files else []  # soft and hard
    process = subprocess.Popen(
        [
            *limit,
            NHI_BROKER,
            "serve",
            "--profile",
            "sim",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal gives it
    )
    try:
        lines = read_until(process, '"broker.ready"')
        started = [as_json(line) for line in lines if '"tls.started"' in line]
        yield Served(process, as_json(lines[-1]), data_dir, [int(e["pid"]) for e in started])
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def get_status(url: str, context: ssl.SSLContext) -> dict[str, Any]:
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPSConnection(
        parsed.hostname or "", parsed.port, context=context, timeout=30
    )
    try:
        connection.request("GET", "/api/common/v1/Status", body=b"{}")
        response = connection.getresponse()
        assert response.status == 200
        answer: dict[str, Any] = json.loads(response.read())
        return answer
    finally:
        connection.close()


def test_serve_announces_itself_answers_over_https_and_stops_on_sigterm(served: Served) -> None:
    assert served.ready["event"] == "broker.ready"
    assert re.fullmatch(r"https://localhost:\d+", served.url)
    assert served.ready["console"] == served.url + "/console"
    person = read_until(served.process, "console is at")[-1]
    assert served.ready["console"] in person

    trusted = ssl.create_default_context(cafile=str(served.data_dir / "tls" / "ca.crt"))
    status = get_status(served.url, trusted)
    assert status["statusCode"] == 0
    assert status["status"]["initialized"] is False

    served.process.send_signal(signal.SIGTERM)
    remaining, _ = served.process.communicate(timeout=30)
    assert served.process.returncode == 0, remaining
    assert '"broker.stopped"' in remaining


def test_sigterm_lets_the_calls_in_flight_finish_before_the_process_exits(served: Served) -> None:
    assert call(served.url, "POST", "/api/common/v1/Initial", {"name": "901000000047"})[0] == 200
    call(served.url, "POST", "/api/sim/v1/Dc/Fault", {"latencyMs": 1500})
    answers: list[tuple[int, bytes]] = []
    callers = [
        threading.Thread(
            target=lambda: answers.append(call(served.url, "GET", "/api/common/v1/ReaderTime"))
        )
        for _ in range(2)
    ]
    for caller in callers:
        caller.start()
    while station_inbox(served.url) < 1:  # one call at the DC, the other queued behind it
        assert all(caller.is_alive() for caller in callers)
    served.process.send_signal(signal.SIGTERM)
    for caller in callers:
        caller.join(60)
    assert [(status, json.loads(raw)["statusCode"]) for status, raw in answers] == [(200, 0)] * 2
    remaining, _ = served.process.communicate(timeout=60)
    assert served.process.returncode == 0, remaining
    assert '"tls.draining"' in remaining


def test_ctrl_c_in_a_terminal_stops_haproxy_softly_through_the_broker(served: Served) -> None:
    os.killpg(served.process.pid, signal.SIGINT)  # a terminal signals the whole group
    remaining, _ = served.process.communicate(timeout=60)
    assert served.process.returncode == 0, remaining
    stopped = [as_json(line) for line in remaining.splitlines() if '"tls.stopped"' in line]
    assert [event["code"] for event in stopped] == [0]  # soft-stopped, not killed by SIGINT


def test_a_flood_past_its_open_file_limit_is_refused_at_once_and_the_broker_answers_after(
    tmp_path: Path,
) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,100 sockets here too
    served = serving(tmp_path, files=1024)
    broker = next(served)
    try:
        haproxy_cfg = (broker.data_dir / "serve" / "haproxy.cfg").read_text()
        assert "    tcp-request connection reject if { fe_conn gt 464 }\n" in haproxy_cfg
        port = urllib.parse.urlsplit(broker.url).port or 0
        flood = silent_flood(("127.0.0.1", port), 1100)  # HAProxy holds 464, closes the rest
        assert closed_by_server(flood, 1100 - 464, within=30) == 1100 - 464
        for sock in flood:
            sock.close()
        trusted = ssl.create_default_context(cafile=str(broker.data_dir / "tls" / "ca.crt"))
        status = once_refusals_end(lambda: get_status(broker.url, trusted), within=30)
        assert status["statusCode"] == 0
    finally:
        served.close()


def test_status_answers_while_a_flood_of_calls_holds_the_connections(tmp_path: Path) -> None:
    served = serving(tmp_path, files=256)  # 84 connections held; beyond 63 only quick paths
    broker = next(served)
    trusted = ssl.create_default_context(cafile=str(broker.data_dir / "tls" / "ca.crt"))
    flood: list[http.client.HTTPSConnection] = []
    try:
        statuses = []
        for _ in range(100):  # each connection asks once, then stays open (keep-alive)
            connection = https_to(broker.url, trusted)
            connection.request("GET", "/api/flood")
            statuses.append(connection.getresponse().status)
            flood.append(connection)
        assert statuses == [404] * 63 + [503] * 37  # refused at once beyond 63 connections
        assert get_status(broker.url, trusted)["statusCode"] == 0  # on a 64th connection
        broker.process.send_signal(signal.SIGTERM)
        remaining, _ = broker.process.communicate(timeout=60)
    finally:
        for connection in flood:
            connection.close()
        served.close()
    events = [as_json(line) for line in remaining.splitlines()]
    refused = [e for e in events if e.get("event") == "tls.request" and e.get("limit")]
    assert [(e["status"], e["backend"]) for e in refused] == [(503, "https")] * 37  # no pool
    [reached] = [e for e in events if e.get("event") == "tls.limit_reached"]
    assert (reached["limit"], reached["connections"]) == ("connections", 64)


def https_to(url: str, context: ssl.SSLContext) -> http.client.HTTPSConnection:
    parsed = urllib.parse.urlsplit(url)
    return http.client.HTTPSConnection(
        parsed.hostname or "", parsed.port, context=context, timeout=30
    )


def test_haproxy_does_not_outlive_a_killed_broker(served: Served) -> None:
    [haproxy] = served.haproxy
    watch = os.pidfd_open(haproxy)  # readable once that process has ended
    try:
        served.process.kill()
        readable, _, _ = select.select([watch], [], [], 30)
    finally:
        os.close(watch)
    assert readable, "HAProxy kept running after the broker was killed"


def test_cert_export_writes_the_ca_that_signed_the_certificate_the_running_server_presents(
    served: Served, tmp_path: Path
) -> None:
    out = tmp_path / "broker.pem"
    exported = nhi_broker("cert", "export", "--out", str(out), "--data-dir", str(served.data_dir))
    assert exported.returncode == 0, exported.stderr
    assert out.read_text().startswith("-----BEGIN CERTIFICATE-----")

    context = ssl.create_default_context(cafile=str(out))  # verifies chain and host name
    assert get_status(served.url, context)["statusCode"] == 0
    parsed = urllib.parse.urlsplit(served.url)
    with (
        socket.create_connection((parsed.hostname or "", parsed.port or 0), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        presented = tls.getpeercert(binary_form=True)
    assert presented is not None
    server = x509.load_der_x509_certificate(presented)
    server.verify_directly_issued_by(x509.load_pem_x509_certificate(out.read_bytes()))
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_cert_export_prints_the_ca_serve_made(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    certificate_paths(data_dir)  # as serve makes it at its first start
    shown = nhi_broker("cert", "export", "--data-dir", str(data_dir))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == (data_dir / "tls" / "ca.crt").read_text()


def test_cert_export_nss_trusts_it_in_the_users_nss_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    certificate_paths(tmp_path / "data")
    data_dir = str(tmp_path / "data")
    for _ in range(2):  # a second run replaces the entry
        added = nhi_broker("cert", "export", "--nss", "--data-dir", data_dir, env=env)
        assert added.returncode == 0, added.stderr
    database = f"sql:{home / '.pki' / 'nssdb'}"
    listed = subprocess.run(
        ["certutil", "-L", "-d", database], capture_output=True, text=True, check=True
    )
    entries = [line for line in listed.stdout.splitlines() if "nhi-broker local CA" in line]
    assert len(entries) == 1
    assert entries[0].split()[-1] == "C,,"


def test_cert_export_nss_without_certutil_says_what_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "HOME": str(tmp_path), "PATH": str(empty)}
    certificate_paths(tmp_path / "d")
    shown = nhi_broker("cert", "export", "--nss", "--data-dir", str(tmp_path / "d"), env=env)
    assert shown.returncode == 2
    assert "apt-get install libnss3-tools" in shown.stderr


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--plain-http"], "plain HTTP"),
        ([], "without station tokens"),
    ],
)
def test_serve_on_a_non_loopback_address_refuses_without_tls_or_tokens(
    tmp_path: Path, extra: list[str], reason: str
) -> None:
    data_dir = tmp_path / "data"
    shown = nhi_broker(
        "serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(data_dir), *extra
    )
    assert shown.returncode == 2
    assert reason in shown.stderr
    assert not data_dir.exists()  # refused before anything started


def test_the_hardware_profile_needs_a_configuration_file() -> None:
    shown = nhi_broker("serve", "--profile", "hardware")
    assert shown.returncode == 2
    assert "--config" in shown.stderr


def test_exposure_rules() -> None:
    sim = config.sim_profile()
    with_token = dataclasses.replace(
        sim, stations=(config.StationConfig("local"), config.StationConfig("x", "ab" * 32))
    )
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        check_exposure(dataclasses.replace(sim, host=host, tls=False))
    check_exposure(dataclasses.replace(with_token, host="0.0.0.0"))
    for refused in (
        dataclasses.replace(sim, host="0.0.0.0"),
        dataclasses.replace(with_token, host="0.0.0.0", tls=False),
        dataclasses.replace(sim, host="reader-host.clinic.example"),
    ):
        with pytest.raises(StartupRefusedError):
            check_exposure(refused)


@pytest.mark.parametrize(
    ("args", "key"),
    [([], "token_sha256"), (["--station", "desk2"], "token_sha256"), (["--admin"], "admin_")],
)
def test_token_prints_a_new_token_and_the_line_to_paste(args: list[str], key: str) -> None:
    first, second = nhi_broker("token", *args), nhi_broker("token", *args)
    assert first.returncode == 0, first.stderr
    token = first.stdout.splitlines()[0]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert second.stdout.splitlines()[0] != token
    line = first.stdout.splitlines()[-1]
    match = TOKEN_LINE.match(line)
    assert match is not None, first.stdout
    assert line.startswith(key)
    assert match.group(2) == hashlib.sha256(token.encode()).hexdigest()
    if "--station" in args:
        assert '"desk2"' in first.stdout


def test_a_pasted_token_line_selects_its_station() -> None:
    shown = nhi_broker("token", "--station", "counter-2")
    token, line = shown.stdout.splitlines()[0], shown.stdout.splitlines()[-1]
    raw = tomllib.loads(f'[[stations]]\nname = "local"\n[[stations]]\nname = "counter-2"\n{line}\n')
    parsed = config.parse(raw)
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert parsed.station("counter-2").token_sha256 == digest


@pytest.mark.parametrize("command", [["token"], ["cert"], ["cert", "export"]])
def test_the_new_commands_have_help(command: list[str]) -> None:
    shown = nhi_broker(*command, "--help")
    assert shown.returncode == 0
    assert "usage: nhi-broker" in shown.stdout


def test_serve_on_a_taken_port_says_so_and_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        shown = nhi_broker("serve", "--port", port, "--data-dir", str(tmp_path / "data"))
    assert shown.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in shown.stderr


def test_serve_with_a_damaged_ca_says_so_and_exits_1(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    certificate_paths(data_dir)
    (data_dir / "tls" / "ca.key").write_text("damaged")
    shown = nhi_broker("serve", "--port", "0", "--data-dir", str(data_dir))
    assert shown.returncode == 1
    assert "cannot be read" in shown.stderr
    assert "Traceback" not in shown.stderr
