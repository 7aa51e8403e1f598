"""Serving the Web API: the broker, the app, HTTPS on the configured address, a clean stop.

``start(config)`` is what tests use; ``serve(config)`` is ``nhi-broker serve``:
it logs one ``broker.ready`` line, beats systemd's watchdog while it serves
(nhi_broker/watchdog.py), waits for SIGTERM or Ctrl-C, then drains the server
(new requests refused, those in flight finish) before stopping the broker.

HTTPS is HAProxy in front of three waitress pools (nhi_https/https.py, api/pools.py).
"""

from __future__ import annotations

import faulthandler
import ipaddress
import signal
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import falcon
import structlog

from api.pools import drain_seconds, plain_threads, pools
from api.services import ApiServices
from broker.config import BrokerConfig
from broker.formats import FormatError
from broker.store import SealIdentity
from nhi_broker.assembly import RunningBroker, assemble, data_directories
from nhi_broker.data_lock import DirectoryLock, hold
from nhi_broker.sd_notify import SystemdNotifier
from nhi_broker.watchdog import Watchdog, serving_check
from nhi_broker.webapp import broker_app
from nhi_https.certificates import CertificateError, ensure_server_certificate
from nhi_https.https import HttpsServer
from nhi_https.server import HttpServer
from nhi_https.terminator import TerminatorError

log = structlog.get_logger("api.serve")

# Reader threads wake after every APDU and wait for the GIL behind whatever runs; a 1 ms
# switch interval (default 5 ms) lets them take it sooner. The program's entry point sets it.
SWITCH_INTERVAL = 0.001
EXIT_REFUSED = 2  # the configuration may not be served as it is
EXIT_FAILED = 1  # it could not be served (e.g. the port is taken)


class StartupRefusedError(Exception):
    """The configuration would expose the API unsafely; the message says what to change."""


class ListenError(OSError):
    """The configured address cannot be bound (the port is taken, the address is not ours)."""


def certificate_paths(data_dir: Path, *, names: Iterable[str] = ()) -> tuple[Path, Path]:
    """The server certificate and key, for loopback and ``names``: ``<data_dir>/tls/``.

    Signed by the broker's local CA (``tls/ca.crt``, made on first use); made
    again when near expiry or when ``names`` change.
    """
    return ensure_server_certificate(data_dir / "tls", names)


def is_loopback_host(host: str) -> bool:
    """Whether binding ``host`` keeps the API on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve anywhere


def check_exposure(config: BrokerConfig) -> None:
    """A non-loopback address needs TLS and station tokens, or startup fails.

    See docs/operations.md (stations and who may call).
    """
    if is_loopback_host(config.host):
        return
    if not config.tls:
        raise StartupRefusedError(
            f"refusing to serve plain HTTP on {config.host}, which is not loopback: "
            "drop --plain-http (or set [server] tls = true), or bind 127.0.0.1"
        )
    if not any(station.token_sha256 for station in config.stations):
        raise StartupRefusedError(
            f"refusing to serve on {config.host}, which is not loopback, without station "
            "tokens: run 'nhi-broker token --station NAME' and put its token_sha256 line "
            "into that [[stations]] entry"
        )


@dataclass
class RunningServer:
    """A broker serving its Web API; ``stop`` ends the server, then the broker."""

    url: str
    broker: RunningBroker
    services: ApiServices
    server: HttpsServer | HttpServer
    certificate: Path | None
    data_dir_lock: DirectoryLock | None = None  # released last, once nothing writes there
    _stopped: bool = field(default=False, repr=False)

    @property
    def console(self) -> str:
        """The console page's address."""
        return f"{self.url}/console"

    def stop(self) -> None:
        """Stop listening, let requests in flight finish, then stop the broker; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            streams = self.services.streams
            if streams is not None:
                streams.close_all()  # an open console must not hold the drain to its end
            self.server.stop(drain_seconds(self.services.call_timeout))
        finally:
            self.broker.close()
            if self.data_dir_lock is not None:
                self.data_dir_lock.release()


def start(config: BrokerConfig, *, seal_identity: SealIdentity | None = None) -> RunningServer:
    """Assemble the broker and serve its API (``config.port`` 0 picks a free port).

    ``StartupRefusedError`` for an unsafe exposure; ``DataDirInUseError`` if
    another process holds the data directory; ``ListenError`` if the address
    cannot be bound (the broker is closed again then). ``seal_identity``: see
    ``assemble`` (tests only).
    """
    check_exposure(config)
    lock = hold_data_directory(config)  # before anything touches the data directory
    try:
        running = _start(config, seal_identity)
    except BaseException:
        lock.release()
        raise
    running.data_dir_lock = lock
    return running


def hold_data_directory(config: BrokerConfig) -> DirectoryLock:
    """This process's lock on the directories it writes to (``nhi_broker/data_lock.py``)."""
    return hold(
        data_directories(config),
        holder="nhi-broker serve",
        hint="choose another data directory (--data-dir DIR, or [server] data_dir)",
    )


def _start(config: BrokerConfig, seal_identity: SealIdentity | None) -> RunningServer:
    tls = certificate_paths(config.data_dir, names=config.names) if config.tls else None
    broker = assemble(config, seal_identity=seal_identity)
    services = ApiServices(broker)
    try:
        server = http_server(config, broker_app(services), services, tls)
    except BaseException:
        broker.close()
        raise
    # The certificate names localhost, as does the manual (https://localhost:5066).
    url = server.url.replace("://127.0.0.1:", "://localhost:", 1)
    return RunningServer(url, broker, services, server, tls[0] if tls else None)


def http_server(
    config: BrokerConfig,
    app: falcon.App[Any, Any],
    services: ApiServices,
    tls: tuple[Path, Path] | None,
) -> HttpsServer | HttpServer:
    """The started server for ``app``: HTTPS through HAProxy, or plain waitress on loopback
    (``ListenError`` if the address cannot be bound)."""
    server: HttpsServer | HttpServer
    try:
        if tls is None:
            server = HttpServer(app, config.host, config.port, threads=plain_threads())
        else:
            cert, key = tls
            server = HttpsServer(
                app,
                config.host,
                config.port,
                cert=cert,
                key=key,
                run_dir=config.data_dir / "serve",
                pools=pools(drain_seconds(services.call_timeout)),
            )
            services.tls_restarts = lambda: server.terminator.restarts  # for the metrics
        server.start()
    except TerminatorError:
        raise  # HAProxy's own words (an OSError too)
    except OSError as exc:
        raise ListenError(f"cannot listen on {config.host}:{config.port}: {exc}") from exc
    return server


def serve(config: BrokerConfig) -> int:
    """``nhi-broker serve``: run until SIGTERM or SIGINT; the process's exit code."""
    stop = stop_signals()  # before starting: a signal during start-up stops it cleanly too
    systemd = SystemdNotifier.from_environment()  # before starting helpers, which inherit env
    # A hung broker that systemd's watchdog aborts (SIGABRT) leaves every thread's stack
    # in the journal: where it hung (files, lines and functions, never values).
    faulthandler.enable()
    try:
        running = start(config)
    except StartupRefusedError as exc:
        print(f"nhi-broker: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    # ListenError, the data dir (in use, or a stored file of a newer release), a damaged CA
    except (OSError, CertificateError, FormatError) as exc:
        print(f"nhi-broker: {exc}", file=sys.stderr)
        return EXIT_FAILED
    log.info(
        "broker.ready",
        url=running.url,
        console=running.console,
        profile=config.profile,
        stations=[s.name for s in config.stations],
        data_dir=str(config.data_dir),
        certificate=str(running.certificate) if running.certificate else None,
        **_kit_urls(running),
    )
    print(f"nhi-broker is ready; the console is at {running.console}", flush=True)
    systemd.notify("READY=1", f"STATUS=serving {running.console}")
    watchdog = Watchdog(systemd, serving_check(running.server.url))
    watchdog.start()  # beats only if systemd asked for them
    stop.wait()
    log.info("broker.stopping")
    watchdog.stop()  # systemd watches a running service, not one that stops
    systemd.notify("STOPPING=1")
    running.stop()
    log.info("broker.stopped")
    return 0


def _kit_urls(running: RunningServer) -> dict[str, str]:
    """The sim profile's NHI cloud simulator (where a clinic system sends its cloud calls)."""
    kit = running.broker.kit
    if kit is None or kit.cloud is None:
        return {}
    return {"cloud": kit.cloud.url}


def stop_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set from now on (main thread only)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    return stop


def wait_for_stop_signal() -> None:
    """Block until SIGTERM or SIGINT (main thread only)."""
    stop_signals().wait()
