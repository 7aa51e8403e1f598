"""A pcscd for the kit: the one already running, or one started with the vpcd readers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

from broker.errors import TransportError
from broker.transport.pcsc import list_readers

VPCD_READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
VPCD_PORTS = {VPCD_READERS[0]: 35963, VPCD_READERS[1]: 35964}
STARTUP_TIMEOUT = 10.0
PORTS_TIMEOUT = 75.0  # Linux keeps a closed connection's port in TIME_WAIT for 60 s
POLL = 0.05


def vpcd_ready() -> bool:
    """Whether a running pcscd offers the vpcd readers."""
    return VPCD_READERS[0] in list_readers()


def start_pcscd(log_path: Path, timeout: float = STARTUP_TIMEOUT) -> subprocess.Popen[bytes]:
    """Start ``pcscd --foreground`` (logging to ``log_path``) and wait for the vpcd readers.

    Raises TransportError with pcscd's log if it exits or the readers do not appear.
    """
    binary = shutil.which("pcscd")
    if binary is None:
        raise TransportError("pcscd is not installed (apt-get install pcscd vsmartcard-vpcd)")
    wait_for_vpcd_ports()
    log: IO[bytes]
    with log_path.open("wb") as log:
        # --foreground keeps it our child; without --auto-exit it never quits when idle.
        process = subprocess.Popen(  # noqa: S603 - a fixed argv, the binary found on PATH
            [binary, "--foreground"], stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + timeout
    while not vpcd_ready():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_pcscd(process)
            raise TransportError(
                f"pcscd offered no vpcd reader within {timeout} s; its log:\n{log_path.read_text()}"
            )
        # pcscd announces nothing while it starts: polling its reader list is the only way.
        time.sleep(POLL)
    return process


def wait_for_vpcd_ports(timeout: float = PORTS_TIMEOUT) -> None:
    """Wait until vpcd could listen on its ports.

    vpcd binds them without SO_REUSEADDR: right after another pcscd stopped,
    the ports sit in TIME_WAIT for up to a minute, and a pcscd started then
    offers no reader at all.
    """
    deadline = time.monotonic() + timeout
    for port in VPCD_PORTS.values():
        while not _bindable(port):
            if time.monotonic() > deadline:
                raise TransportError(
                    f"port {port} stayed in use for {timeout:.0f} s (another vpcd or pcscd?)"
                )
            time.sleep(POLL * 10)  # the kernel tells no one when TIME_WAIT ends


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - a probe, closed at once, as vpcd binds
        except OSError:
            return False
    return True


def stop_pcscd(process: subprocess.Popen[bytes]) -> None:
    """Terminate a pcscd we started (kill it if it lingers)."""
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
