"""What systemd does to a service's processes when it stops it (``systemd.kill(5)``), done
to a process started without systemd, following the unit file's settings.

The unit's control group holds its main process and every process descended from it,
whatever their session or process group (HAProxy runs in a session of its own): the
stand-in for it is that set of processes, taken from /proc when the stop begins.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

UNIT = Path(__file__).resolve().parents[1] / "nhi_broker" / "host" / "nhi-broker.service"
DEFAULT_STOP_TIMEOUT = 90.0  # systemd's DefaultTimeoutStopSec


@dataclasses.dataclass(frozen=True)
class KillSettings:
    """A unit's ``KillMode=``, ``KillSignal=``, ``TimeoutStopSec=`` and ``SendSIGKILL=``."""

    kill_mode: str = "control-group"
    kill_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    send_sigkill: bool = True

    @classmethod
    def of(cls, unit: Path = UNIT) -> KillSettings:
        """The settings of ``unit``'s [Service] section, systemd's defaults for the rest."""
        service = section(unit, "Service")
        return cls(
            kill_mode=service.get("KillMode", cls.kill_mode),
            kill_signal=signal.Signals[service.get("KillSignal", cls.kill_signal.name)],
            stop_timeout=seconds(service.get("TimeoutStopSec", f"{DEFAULT_STOP_TIMEOUT:g}")),
            send_sigkill=service.get("SendSIGKILL", "yes") in ("yes", "true", "1", "on"),
        )


@dataclasses.dataclass(frozen=True)
class Stopped:
    """How a stop went: seconds until the main process exited, whether it was in time."""

    seconds: float
    in_time: bool
    output: str  # what the main process wrote meanwhile (its stdout, read to the end)


def section(unit: Path, name: str) -> dict[str, str]:
    """The keys of one section of a unit file (the last value where a key repeats)."""
    values: dict[str, str] = {}
    current = None
    for raw in unit.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("["):
            current = line.strip("[]")
        elif line and not line.startswith(("#", ";")) and current == name:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def seconds(value: str) -> float:
    """A systemd time span of plain seconds or with one unit (``40``, ``40s``, ``2min``)."""
    for suffix, factor in (("min", 60.0), ("ms", 0.001), ("s", 1.0)):
        if value.endswith(suffix):
            return float(value.removesuffix(suffix)) * factor
    return float(value)


def unit_processes(main: int) -> set[int]:
    """``main`` and every process descended from it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                # the field after the command (which may hold spaces, in parentheses)
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
    found = {main}
    while grown := {pid for pid, parent in parents.items() if parent in found} - found:
        found |= grown
    return found


def stop(process: subprocess.Popen[str], settings: KillSettings) -> Stopped:
    """``systemctl stop``: the kill signal (and SIGCONT) to the processes ``KillMode=``
    names, ``TimeoutStopSec=`` for the main process to exit, then SIGKILL to what is left
    (mixed and control-group: the whole group; process: the main process)."""
    # pidfds: each names its process even after it has ended, so no signal meets a new
    # process that took a pid again
    group = {}
    for pid in unit_processes(process.pid):
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            group[pid] = os.pidfd_open(pid)
    try:
        return _stop(process, settings, group)
    finally:
        for pidfd in group.values():
            os.close(pidfd)


def _stop(process: subprocess.Popen[str], settings: KillSettings, group: dict[int, int]) -> Stopped:
    main = {process.pid: group[process.pid]}
    signalled = {"control-group": group, "mixed": main, "process": main}.get(settings.kill_mode, {})
    for sig in (settings.kill_signal, signal.SIGCONT):
        send(signalled.values(), sig)
    started = time.monotonic()
    try:
        output, _ = process.communicate(timeout=settings.stop_timeout)
        in_time = True
    except subprocess.TimeoutExpired:
        output, in_time = "", False
    took = time.monotonic() - started
    if settings.send_sigkill:
        send(
            (group if settings.kill_mode in ("control-group", "mixed") else main).values(),
            signal.SIGKILL,
        )
    if not in_time:
        output, _ = process.communicate(timeout=30)
    return Stopped(took, in_time, output)


def send(pidfds: Iterable[int], sig: signal.Signals) -> None:
    """``sig`` to each process still running."""
    for pidfd in pidfds:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(pidfd, sig)
