"""systemd's notify protocol: a datagram to ``$NOTIFY_SOCKET`` (``sd_notify(3)``), and the
watchdog interval it asks for (``$WATCHDOG_USEC``, ``sd_watchdog_enabled(3)``).

A few lines of socket code instead of a dependency. The variables are taken out
of the environment when read, so helper processes the broker starts (a TLS
terminator) neither report for it nor think they are watched.
"""

from __future__ import annotations

import os
import socket

import structlog

log = structlog.get_logger("nhi_broker.sd_notify")


class SystemdNotifier:
    """Sends state lines (``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``) to systemd; does
    nothing without it. ``watchdog``: seconds systemd waits for a heartbeat, or None."""

    def __init__(self, address: str | None, watchdog: float | None = None) -> None:
        self._address = address
        self.watchdog = watchdog if address is not None else None

    @classmethod
    def from_environment(cls) -> SystemdNotifier:
        """The notifier for ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC`` (removed from the
        environment, with ``$WATCHDOG_PID``)."""
        address = os.environ.pop("NOTIFY_SOCKET", None) or None
        usec = os.environ.pop("WATCHDOG_USEC", None)
        pid = os.environ.pop("WATCHDOG_PID", None)
        return cls(address, watchdog_seconds(usec, pid))

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


def watchdog_seconds(usec: str | None, pid: str | None) -> float | None:
    """The watchdog interval systemd set for this process, in seconds; None if it set none
    (or set it for another process: ``$WATCHDOG_PID`` names the one it watches)."""
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        interval = int(usec)
    except ValueError:
        log.warning("sd_notify.bad_watchdog", watchdog_usec=usec)
        return None
    return interval / 1e6 if interval > 0 else None
