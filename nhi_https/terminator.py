"""HAProxy as the broker's child: started, restarted when it dies, drained on stop.

A stop first has HAProxy refuse new requests (503 at once, through its runtime API),
waits until the requests in flight are answered, and only then stops HAProxy, so no
caller waits in the port's backlog while the broker finishes the work of others.

Its log lines (stdout: the abnormal requests, one JSON object each; stderr:
its notices, warnings and alerts) become structlog events, so they reach the
same JSON stream as the broker's own. A request refused by a connection limit
is one of those lines; the first of a flood is also told once, as
``tls.limit_reached``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import structlog

from nhi_https import runtime
from nhi_https.haproxy import Control

log = structlog.get_logger("web.terminator")

SEARCH = ("/usr/sbin", "/usr/local/sbin")  # Debian puts haproxy outside a user's PATH
FIRST_BACKOFF, MAX_BACKOFF = 0.1, 5.0  # seconds before a restart, doubling
STEADY = 10.0  # seconds up after which a death counts as a first one again
QUIET = 60.0  # seconds without a refusal by a limit after which the next one is told again
NO_LIMIT = "-"  # the log's ``limit`` (an unset HAProxy variable): no limit refused it
ROUTINE = "stopped (cumulated conns"  # a warning per proxy at every stop: nothing is wrong
LEVELS = {"ALERT": "error", "WARNING": "warning", "NOTICE": "info"}
IN_FLIGHT_POLL = 0.05  # seconds between two looks at what a stop still waits for


class TerminatorError(OSError):
    """HAProxy is missing or refuses its configuration."""


def haproxy_executable() -> str:
    """Where haproxy is; TerminatorError (saying what to install) if it is not."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path=":".join(SEARCH))
    if found is None:
        raise TerminatorError("haproxy is not installed: apt-get install haproxy")
    return found


class LimitWatch:
    """Tells the first request a limit refused, then none until a quiet minute has passed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: float | None = None
        self._lock = threading.Lock()

    def refused(self, limit: str, fields: dict[str, Any]) -> None:
        """A request refused by ``limit`` (one HAProxy log line)."""
        now = self._clock()
        with self._lock:
            first = self._last is None or now - self._last >= QUIET
            self._last = now
        if first:
            log.warning(
                "tls.limit_reached",
                limit=limit,
                connections=fields.get("connections"),
                text="only the quick paths (Status) are served until connections close",
            )


def route_line(stream: str, line: str, watch: LimitWatch | None = None) -> None:
    """One HAProxy output line as a structlog event."""
    line = line.rstrip("\n")
    if not line:
        return
    if stream == "stdout":  # its request log; its own messages repeat what stderr says
        with contextlib.suppress(ValueError):
            fields: dict[str, Any] = json.loads(line)
            status = fields.get("status")
            level = "warning" if isinstance(status, int) and status >= 500 else "info"
            limit = fields.pop("limit", NO_LIMIT)
            if limit != NO_LIMIT:
                fields["limit"] = limit
            getattr(log, level)("tls.request", **fields)
            if limit != NO_LIMIT and watch is not None:
                watch.refused(limit, fields)
        return
    word = line[1:].split("]", 1)[0].strip() if line.startswith("[") else ""
    level = "debug" if ROUTINE in line else LEVELS.get(word, "info")
    getattr(log, level)("tls.message", text=line)


def _pump(stream: IO[str], name: str, watch: LimitWatch) -> None:
    for line in stream:
        route_line(name, line, watch)


class Terminator:
    """One HAProxy (``executable``) serving ``config`` on the inherited ``listener``."""

    def __init__(
        self, executable: str, config: Path, listener: socket.socket, control: Control
    ) -> None:
        self._haproxy = [executable, "-f", str(config)]
        self._control = control
        # In the foreground, as our child; killed with its parent thread (our watcher,
        # which lives as long as the broker), so it never outlives us holding the port.
        self._command = ["setpriv", "--pdeathsig", "KILL", *self._haproxy, "-db"]
        self._fds = (listener.fileno(),)
        self._stopping = threading.Event()
        self.draining = threading.Event()  # set once a stop began (and refuses new requests)
        self._changed = threading.Condition()
        self._process: subprocess.Popen[str] | None = None
        self._watcher: threading.Thread | None = None
        self.restarts = 0  # HAProxy started again after it died (the metrics read it)
        self.limits = LimitWatch()

    def check(self) -> None:
        """TerminatorError with HAProxy's own words if it refuses the configuration."""
        command = [*self._haproxy, "-c", "-q"]
        done = subprocess.run(  # noqa: S603 - a fixed argv, haproxy found on PATH
            command, pass_fds=self._fds, capture_output=True, text=True, timeout=30, check=False
        )
        if done.returncode != 0:
            raise TerminatorError(f"haproxy refused its configuration: {done.stderr.strip()}")

    def start(self) -> None:
        """Check the configuration, then run HAProxy under a watcher thread."""
        self.check()
        self._watcher = threading.Thread(target=self._watch, name="terminator", daemon=True)
        self._watcher.start()
        self.wait_for(lambda pid: pid is not None, 10.0)

    @property
    def pid(self) -> int | None:
        """The running HAProxy's process id (None between a death and its restart)."""
        with self._changed:
            return self._pid_locked()

    def wait_for(self, predicate: Callable[[int | None], bool], timeout: float) -> bool:
        """Block until ``predicate(pid)`` holds (tests: a restart); False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self._pid_locked()), timeout)

    def _pid_locked(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    def stop(self, drain: float) -> None:
        """New requests refused, those in flight answered (up to ``drain`` s), then a soft stop
        (SIGUSR1), which closes the idle connections."""
        self._stopping.set()
        deadline = time.monotonic() + drain
        with self._changed:
            process = self._process
        if process is not None and process.poll() is None:
            refusing = drain > 0 and self._refuse_new()
            self.draining.set()
            log.info("tls.draining", pid=process.pid, drain=drain, refusing=refusing)
            if refusing:
                self._wait_in_flight(deadline)
            process.send_signal(signal.SIGUSR1)
            try:  # soft stop: anything still in flight has until the deadline and 2 s
                process.wait(max(0.0, deadline - time.monotonic()) + 2.0)
            except subprocess.TimeoutExpired:
                process.kill()
        if self._watcher is not None:
            self._watcher.join(drain + 5.0)

    def _refuse_new(self) -> bool:
        """Have HAProxy answer every new request with the refusal; False if it would not."""
        try:
            runtime.refuse_new(self._control)
        except OSError as exc:  # the soft stop still lets calls finish; new ones then wait
            log.warning("tls.runtime_failed", error=str(exc))
            return False
        return True

    def _wait_in_flight(self, deadline: float) -> None:
        """Until HAProxy has answered every request in flight, or ``deadline``."""
        try:
            while (left := runtime.in_flight(self._control)) and time.monotonic() < deadline:
                time.sleep(IN_FLIGHT_POLL)
        except (OSError, ValueError) as exc:  # no HAProxy to ask, or an answer not understood
            log.warning("tls.runtime_failed", error=str(exc))
            return
        if left:
            log.warning("tls.drain_ended", in_flight=left)

    def _spawn(self) -> subprocess.Popen[str]:
        process = subprocess.Popen(  # noqa: S603 - a fixed argv, haproxy found on PATH
            self._command,
            pass_fds=self._fds,
            # Its own session: a terminal's Ctrl-C (SIGINT to the whole foreground group)
            # would stop HAProxy at once; the broker stops it softly instead.
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        for stream, name in ((process.stdout, "stdout"), (process.stderr, "stderr")):
            assert stream is not None
            threading.Thread(
                target=_pump,
                args=(stream, name, self.limits),
                name=f"haproxy-{name}",
                daemon=True,
            ).start()
        return process

    def _watch(self) -> None:
        """Run HAProxy; when it dies unasked, log it and start it again after a backoff."""
        backoff = FIRST_BACKOFF
        while not self._stopping.is_set():
            process = self._spawn()
            started = time.monotonic()
            with self._changed:
                self._process = process
                self._changed.notify_all()
            log.info("tls.started", pid=process.pid)
            code = process.wait()
            with self._changed:
                self._changed.notify_all()
            if self._stopping.is_set():
                log.info("tls.stopped", pid=process.pid, code=code)
                return
            backoff = FIRST_BACKOFF if time.monotonic() - started > STEADY else backoff
            log.error("tls.died", pid=process.pid, code=code, restart_in=backoff)
            self._stopping.wait(backoff)  # a crash loop must not spin
            backoff = min(backoff * 2, MAX_BACKOFF)
            self.restarts += 1
