"""HTTPS for an app: HAProxy terminates TLS in front of waitress pools on unix sockets.

The broker opens the public socket itself (a taken port fails here, port 0
picks one) and hands it to HAProxy, which routes each path to its pool:
one waitress server, with its own threads, per kind of work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import resource
import shutil
import socket
import ssl
import tempfile
from pathlib import Path

from broker.atomic import write_atomic
from nhi_https.haproxy import ERROR_PAGES, ERRORS, Control, Limits, Pool, error_page, render
from nhi_https.server import Address, HttpServer, WsgiApp, url_of
from nhi_https.terminator import Terminator, haproxy_executable

READY_TIMEOUT = 10.0  # seconds for HAProxy's first TLS handshake
WILDCARD_PROBES = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - where to reach a wildcard
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes
MAXCONN_CAP = 4096
FDS_RESERVED = 64  # HAProxy's own: listener, pipes, logs, the pools' sockets


@dataclasses.dataclass(frozen=True)
class PoolSpec:
    """A pool's name, threads, server timeout (s) and the paths it serves."""

    name: str
    threads: int
    timeout: float
    paths: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    reserved: bool = False  # served also when connections are crowded (Limits.quick_only)


def open_files_limit() -> int:
    """Raise our soft open-file limit to the hard one (HAProxy inherits it); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft if soft != resource.RLIM_INFINITY else MAXCONN_CAP * 2


def maxconn_for(files: int) -> int:
    """Connections HAProxy may hold: each takes a client and a server socket.

    Near it HAProxy closes a new connection as soon as it accepts it
    (``Limits.held``), so a flood never deafens the port.
    """
    return max(16, min(MAXCONN_CAP, (files - FDS_RESERVED) // 2))


def listen(host: str, port: int) -> socket.socket:
    """The public listening socket (OSError if the address cannot be bound)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server(
        (host.strip("[]"), port), family=family, backlog=socket.SOMAXCONN
    )
    listener.set_inheritable(True)
    return listener


def wait_until_serving(address: Address, timeout: float) -> None:
    """Return once a TLS handshake on ``address`` succeeds: HAProxy is up (signals included).

    Until then connections wait in the backlog, and a stop signal would find
    HAProxy without its handlers (a soft stop would kill it).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    host = WILDCARD_PROBES.get(address[0], address[0])
    with (
        socket.create_connection((host, address[1]), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname="localhost"),
    ):
        return


def socket_dir(run_dir: Path) -> Path:
    """``run_dir`` for the pools' sockets, or a private temporary one if its path is too long."""
    if len(str(run_dir / "events.sock")) <= SOCKET_PATH_MAX:
        return run_dir
    return Path(tempfile.mkdtemp(prefix="nhi-broker-"))


def wire(specs: tuple[PoolSpec, ...], sockets: Path) -> tuple[Pool, ...]:
    """Each pool with its socket path (a stale socket of a killed broker removed)."""
    pools = tuple(Pool(socket=sockets / f"{s.name}.sock", **dataclasses.asdict(s)) for s in specs)
    for pool in pools:
        pool.socket.unlink(missing_ok=True)
    return pools


def write_error_pages(directory: Path) -> None:
    """HAProxy's own error answers, one ``<status>.http`` file each, in ``directory``."""
    directory.mkdir(mode=0o700, exist_ok=True)
    for status in ERROR_PAGES:
        write_atomic(directory / f"{status}.http", error_page(status))


def write_pem(path: Path, cert: Path, key: Path) -> Path:
    """Certificate (with any chain) and key in one file, as HAProxy's ``crt`` takes them."""
    write_atomic(path, cert.read_bytes().rstrip(b"\n") + b"\n" + key.read_bytes(), mode=0o600)
    return path


class HttpsServer:
    """``app`` over HTTPS on ``host:port`` through HAProxy and one waitress pool per spec.

    The first spec takes every path the others do not name.
    """

    def __init__(
        self,
        app: WsgiApp,
        host: str,
        port: int,
        *,
        cert: Path,
        key: Path,
        run_dir: Path,
        pools: tuple[PoolSpec, ...],
        limits: Limits | None = None,
    ) -> None:
        executable = haproxy_executable()  # before anything is bound: it says what to install
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        run_dir.chmod(0o700)
        self._run_dir = run_dir
        self._sockets = socket_dir(run_dir)
        self._listener = listen(host, port)
        bound = self._listener.getsockname()
        self.address: Address = (str(bound[0]), int(bound[1]))
        self.limits = limits or Limits(maxconn=maxconn_for(open_files_limit()))
        wired = wire(pools, self._sockets)
        self._servers = [
            HttpServer(app, unix_socket=p.socket, threads=p.threads, name=f"waitress-{p.name}")
            for p in wired
        ]
        write_error_pages(run_dir / ERRORS)  # beside the configuration
        pem = write_pem(run_dir / "tls.pem", cert, key)
        control = Control(self._sockets / "cli.sock", run_dir / "refusals.acl")
        write_atomic(control.refusals, b"")  # empty: a stop adds its pattern in memory
        control.socket.unlink(missing_ok=True)
        config = run_dir / "haproxy.cfg"
        text = render(self._listener.fileno(), pem, self.limits, wired, control) + "\n"
        write_atomic(config, text.encode())
        self.terminator = Terminator(executable, config, self._listener, control)
        self._stopped = False

    @property
    def url(self) -> str:
        """``https://host:port``."""
        return url_of("https", self.address)

    def start(self) -> None:
        """Start the pools, then HAProxy (connections wait in the backlog until it runs)."""
        for server in self._servers:
            server.start()
        try:
            self.terminator.start()
            wait_until_serving(self.address, READY_TIMEOUT)
        except BaseException:
            self.terminator.stop(0.0)
            self._close(0.0)
            raise

    def stop(self, drain: float) -> None:
        """No new connections; requests in flight finish (up to ``drain`` s); all stopped; once."""
        if self._stopped:
            return
        self._stopped = True
        self.terminator.stop(drain)
        self._close(1.0)

    def _close(self, drain: float) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()
        for server in self._servers:
            server.stop(drain)
        if self._sockets != self._run_dir:
            shutil.rmtree(self._sockets, ignore_errors=True)
