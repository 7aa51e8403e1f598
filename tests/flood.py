"""Flooding a server with connections that say nothing, and seeing which it refused."""

from __future__ import annotations

import selectors
import socket
import ssl
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def silent_flood(address: tuple[str, int], count: int) -> list[socket.socket]:
    """``count`` connections to ``address`` that never send a byte (non-blocking)."""
    flood = [socket.socket() for _ in range(count)]
    for sock in flood:
        sock.setblocking(False)
        sock.connect_ex(address)
    return flood


def closed_by_server(socks: list[socket.socket], wanted: int, within: float) -> int:
    """How many of ``socks`` the server closed or reset, once ``wanted`` are or ``within``
    seconds have passed (epoll: more than 1,024 sockets)."""
    closed = 0
    deadline = time.monotonic() + within
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ, data=sock)
        while closed < wanted and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                if not _peek(key.data):
                    selector.unregister(key.data)
                    closed += 1
    return closed


def _peek(sock: socket.socket) -> bytes:
    """What a readable socket holds: nothing once the server closed (or reset) it."""
    try:
        return sock.recv(1, socket.MSG_PEEK)
    except (BlockingIOError, ConnectionError):
        return b""


def once_refusals_end(attempt: Callable[[], T], within: float) -> T:
    """``attempt()`` once the server stops refusing new connections: after a flood's
    clients close, HAProxy counts the closes a moment later."""
    deadline = time.monotonic() + within
    while True:
        try:
            return attempt()
        except (ConnectionError, ssl.SSLError):
            if time.monotonic() > deadline:
                raise
