"""systemd's watchdog: ``WATCHDOG=1`` every half interval, only while the broker really serves.

Each beat follows a check that goes the way a client's call goes: an HTTPS request
through HAProxy to the quick pool, answered only after a round trip to an actor
through the supervisor (api/resources/health.py). A check that fails, or takes more
than a quarter of the interval, withholds that beat and logs why
(``watchdog.withheld``); after a whole interval without a beat systemd stops the
broker and starts it again (``WatchdogSec=`` and ``Restart=`` in the unit).
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable

import structlog

from api.resources import health
from nhi_broker.sd_notify import SystemdNotifier
from nhi_https.https import WILDCARD_PROBES

log = structlog.get_logger("nhi_broker.watchdog")

Check = Callable[[float], str | None]  # (timeout in seconds) → None when serving, else why not


class Watchdog:
    """Beats for ``notifier`` while ``check`` passes; nothing if systemd watches no interval."""

    def __init__(self, notifier: SystemdNotifier, check: Check) -> None:
        self._notifier = notifier
        self._check = check
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    def start(self) -> None:
        """Check and beat from now on (call once ``READY=1`` is sent)."""
        if self._notifier.watchdog is not None:
            self._thread.start()

    def stop(self) -> None:
        """No more beats (systemd watches a running service only, not one that stops)."""
        self._stopped.set()
        if self._thread.is_alive() and self._notifier.watchdog is not None:
            self._thread.join(self._notifier.watchdog / 2)  # a check in progress: its timeout

    def _run(self) -> None:
        interval = self._notifier.watchdog
        assert interval is not None
        period, timeout = interval / 2, interval / 4
        withheld = 0
        log.info("watchdog.started", interval=interval)
        while not self._stopped.is_set():
            started = time.monotonic()
            reason = self._check(timeout)
            if reason is None:
                self._notifier.notify("WATCHDOG=1")
                if withheld:
                    log.info("watchdog.resumed", withheld=withheld)
                withheld = 0
            else:
                withheld += 1
                log.warning("watchdog.withheld", reason=reason, withheld=withheld)
            self._stopped.wait(max(0.0, started + period - time.monotonic()))


def serving_check(url: str) -> Check:
    """The check for the server at ``url`` (its bound address): GET the health path there."""
    parsed = urllib.parse.urlsplit(url)
    host = WILDCARD_PROBES.get(parsed.hostname or "", parsed.hostname or "")
    port = parsed.port or 0
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # our own server, on this machine
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    def check(timeout: float) -> str | None:
        connection = (
            http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
            if parsed.scheme == "https"
            else http.client.HTTPConnection(host, port, timeout=timeout)
        )
        try:
            connection.request("GET", health.PATH)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            error = str(exc) or type(exc).__name__
            return f"no answer from {health.PATH} within {timeout:g} s: {error}"
        finally:
            connection.close()
        if response.status != http.HTTPStatus.OK:
            return f"{health.PATH} answered {response.status}: {_description(body)}"
        return None

    return check


def _description(body: bytes) -> str:
    """What an error answer says (``{"title", "description"}``), or its first bytes."""
    try:
        answer = json.loads(body)
        return f"{answer['title']}: {answer['description']}"
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace")
