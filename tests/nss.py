"""NSS databases as browsers keep them, read and written with certutil; a user's environment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def user_env(home: Path) -> dict[str, str]:
    """This environment with ``home`` as HOME, and no XDG directories pointing elsewhere."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    return {**kept, "HOME": str(home)}


def nss_trust(database: Path) -> dict[str, str]:
    """Nickname → trust flags of every certificate in an NSS database."""
    listed = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{database}"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.rsplit(None, 1) for line in listed.stdout.splitlines()[4:] if line.strip()]
    return {name.strip(): flags for name, flags in rows}


def new_nss_database(directory: Path) -> Path:
    """An empty database without a password, as a browser makes it."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{directory}", "--empty-password"], check=True)
    return directory


def add_to_nss(database: Path, nickname: str, certificate: Path) -> None:
    """``certificate`` trusted to issue TLS server certificates, as ``nickname``."""
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{database}", "-t", "C,,", "-n", nickname, "-i",
         str(certificate)],
        check=True,
    )  # fmt: skip
