"""The load-generating client of bench_http: HTTPS (or plain HTTP) calls and a load run.

``load`` runs in the bench's separate load process (``bench_http.py --load``), so
that client and server do not share one GIL.
"""

from __future__ import annotations

import http.client
import itertools
import json
import ssl
import threading
import time
import urllib.parse
from typing import Any

STATUS = "/api/common/v1/Status"


def unverified() -> ssl.SSLContext:
    """What today's HIS clients use (``verify=False``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def connect(url: str) -> http.client.HTTPConnection:
    """HTTPS (or plain HTTP, for the bare app on waitress alone)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "http":
        return http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=30)
    return http.client.HTTPSConnection(
        parsed.hostname or "", parsed.port, context=unverified(), timeout=30
    )


def call(connection: http.client.HTTPConnection, method: str, path: str, body: Any = None) -> Any:
    connection.request(method, path, body=json.dumps(body or {}).encode())
    response = connection.getresponse()
    answer = json.loads(response.read())
    if response.status != 200 or answer.get("statusCode") != 0:
        raise SystemExit(f"{method} {path}: HTTP {response.status} {answer}")
    return answer


def load(url: str, clients: int, requests: int, seconds: float) -> dict[str, float]:
    """Run in the load process: ``clients`` keep-alive connections sending GET Status."""
    issued = itertools.count()
    done = itertools.count()
    failures: list[str] = []
    ready = threading.Barrier(clients + 1)
    go = threading.Event()
    deadline: list[float] = []

    def client() -> None:
        connection = connect(url)
        call(connection, "GET", STATUS)  # TLS handshake before the clock starts
        ready.wait()
        go.wait()
        try:
            while next(issued) < requests and time.perf_counter() < deadline[0]:
                connection.request("GET", STATUS, body=b"{}")
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    failures.append(str(response.status))
                next(done)
        except (OSError, http.client.HTTPException) as exc:
            failures.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    begin = time.perf_counter()
    deadline.append(begin + seconds)
    go.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    completed = next(done)
    return {"requests": completed, "seconds": elapsed, "failures": len(failures)}
