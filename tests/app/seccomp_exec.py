"""Run a command under the system-call filter that the unit's settings give it.

    python seccomp_exec.py UNIT -- COMMAND ...

What systemd installs for ``SystemCallFilter=``, ``SystemCallErrorNumber=EPERM`` and
``MemoryDenyWriteExecute=yes`` (systemd.exec(5)), made here with libseccomp and the
groups as ``systemd-analyze syscall-filter`` lists them, so that the broker's own
program can be run under them where no systemd runs services. Only the native
architecture is allowed (``SystemCallArchitectures=native``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

ALLOW = 0x7FFF0000  # SCMP_ACT_ALLOW
MASKED_EQ = 7  # SCMP_CMP_MASKED_EQ: (argument & datum_a) == datum_b
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
PR_SET_NO_NEW_PRIVS = 38


def errno_action(number: int) -> int:
    """SCMP_ACT_ERRNO(number)."""
    return 0x00050000 | (number & 0xFFFF)


class ArgCmp(ctypes.Structure):
    """``struct scmp_arg_cmp``."""

    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


def settings(unit: Path) -> list[tuple[str, str]]:
    """The unit's ``Key=value`` lines, in order."""
    lines = (line.strip() for line in unit.read_text(encoding="utf-8").splitlines())
    return [
        (key, value)
        for key, sep, value in (line.partition("=") for line in lines)
        if sep and not key.startswith("#")
    ]


def expand(names: Iterable[str]) -> set[str]:
    """System-call names, with each ``@group`` replaced by what systemd puts in it."""
    found: set[str] = set()
    for name in names:
        if not name.startswith("@"):
            found.add(name)
            continue
        listed = subprocess.run(
            ["systemd-analyze", "syscall-filter", name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()[1:]
        members = [line.split("#")[0].strip() for line in listed]
        found |= expand(member for member in members if member)
    return found


def allowed(unit: Path) -> set[str]:
    """The allow list the unit's ``SystemCallFilter=`` lines make (read left to right:
    the first is an allow list; a ``~`` line takes away from it, a later plain one adds)."""
    allow: set[str] = set()
    for key, value in settings(unit):
        if key != "SystemCallFilter":
            continue
        if value.startswith("~"):
            allow -= expand(value[1:].split())
        else:
            allow |= expand(value.split())
    return allow


def load(unit: Path) -> None:
    """Install the unit's filters on this process (inherited by whatever it runs)."""
    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(ArgCmp),
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    if ctypes.CDLL(None).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    unit_settings = dict(settings(unit))
    refusal = errno_action(getattr(errno, unit_settings.get("SystemCallErrorNumber", "EPERM")))
    allow_list = lib.seccomp_init(refusal)
    for name in sorted(allowed(unit)):
        number = lib.seccomp_syscall_resolve_name(name.encode())
        if number >= 0:  # a name this architecture has
            _rule(lib, allow_list, ALLOW, number, [])
    if unit_settings.get("MemoryDenyWriteExecute") == "yes":
        _load(lib, _write_execute_filter(lib, refusal))
    _load(lib, allow_list)  # last: seccomp(2) itself may be outside the allow list


def _write_execute_filter(lib: ctypes.CDLL, refusal: int) -> int:
    """mmap(2) both writable and executable, mprotect(2) to executable, shmat(2) with
    SHM_EXEC: refused (systemd.exec(5), MemoryDenyWriteExecute=)."""
    both = PROT_WRITE | PROT_EXEC
    rules = {
        "mmap": ArgCmp(2, MASKED_EQ, both, both),
        "mprotect": ArgCmp(2, MASKED_EQ, PROT_EXEC, PROT_EXEC),
        "pkey_mprotect": ArgCmp(2, MASKED_EQ, PROT_EXEC, PROT_EXEC),
        "shmat": ArgCmp(2, MASKED_EQ, SHM_EXEC, SHM_EXEC),
    }
    context: int = lib.seccomp_init(ALLOW)
    for name, compare in rules.items():
        _rule(lib, context, refusal, lib.seccomp_syscall_resolve_name(name.encode()), [compare])
    return context


def _rule(lib: ctypes.CDLL, context: int, action: int, number: int, args: list[ArgCmp]) -> None:
    array = (ArgCmp * max(1, len(args)))(*args)
    if lib.seccomp_rule_add_array(context, action, number, len(args), array) != 0:
        raise OSError(f"seccomp_rule_add_array failed for system call {number}")


def _load(lib: ctypes.CDLL, context: int) -> None:
    if lib.seccomp_load(context) != 0:
        raise OSError("seccomp_load failed")


def main(argv: list[str]) -> None:
    """``UNIT -- COMMAND …``: load UNIT's filters, then become COMMAND."""
    unit, separator, *command = argv
    if separator != "--" or not command:
        raise SystemExit(__doc__)
    load(Path(unit))
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
