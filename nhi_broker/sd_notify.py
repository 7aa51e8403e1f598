"""systemd's readiness protocol: a datagram to ``$NOTIFY_SOCKET`` (``sd_notify(3)``).

A few lines of socket code instead of a dependency. The variable is taken out
of the environment when read, so helper processes the broker starts (a TLS
terminator) do not report for it.
"""

from __future__ import annotations

import os
import socket

import structlog

log = structlog.get_logger("nhi_broker.sd_notify")


class SystemdNotifier:
    """Sends state lines (``READY=1``, ``STOPPING=1``) to systemd; does nothing without it."""

    def __init__(self, address: str | None) -> None:
        self._address = address

    @classmethod
    def from_environment(cls) -> SystemdNotifier:
        """The notifier for ``$NOTIFY_SOCKET`` (removed from the environment)."""
        return cls(os.environ.pop("NOTIFY_SOCKET", None) or None)

    def notify(self, *lines: str) -> None:
        """Send ``lines`` as one datagram; a failure is logged, never raised."""
        if self._address is None:
            return
        # "@name" is an abstract socket: a leading NUL byte on the wire
        address = "\0" + self._address[1:] if self._address.startswith("@") else self._address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(address)
                sock.sendall("\n".join(lines).encode("utf-8"))
        except OSError as exc:
            log.warning("sd_notify.failed", socket=self._address, error=str(exc))
