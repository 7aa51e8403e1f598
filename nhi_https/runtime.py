"""HAProxy's runtime API (its ``stats socket``, level admin): what a stop asks of HAProxy.

One command per connection, as HAProxy's non-interactive mode takes it: the socket
is the broker's alone (mode 0600 in a 0700 directory, like the pools' sockets).
"""

from __future__ import annotations

import csv
import socket
from pathlib import Path

from nhi_https.haproxy import REFUSING, Control

TIMEOUT = 2.0  # seconds for one command: HAProxy answers these at once


def command(path: Path, line: str) -> str:
    """Send one command to the runtime API at ``path``; its whole answer (OSError if none)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(str(path))
        sock.sendall(line.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def refuse_new(control: Control) -> None:
    """From now on HAProxy answers every new request with the refusal (haproxy.REFUSAL)."""
    answer = command(control.socket, f"add acl {control.refusals} {REFUSING}").strip()
    if answer:
        raise OSError(f"haproxy would not refuse new requests: {answer}")


def in_flight(control: Control) -> int:
    """Requests HAProxy has passed to a pool, or holds in a pool's queue, not yet answered:
    the sessions of each backend (its queued ones are among them)."""
    table = command(control.socket, "show stat").removeprefix("# ")
    rows = csv.DictReader(table.splitlines())
    return sum(int(row["scur"] or 0) for row in rows if row.get("svname") == "BACKEND")
