"""The user's browsers' NSS databases, and trusting the broker's CA in each.

Chromium, Chrome and Edge on Linux read ``~/.pki/nssdb`` (their snap and
flatpak builds a database in their own home). Firefox keeps one database per
profile, and a ``profiles.ini`` lists the profiles: current Firefox keeps it in
``$XDG_CONFIG_HOME/mozilla/firefox`` (``~/.config/…``) when there is no
``~/.mozilla``, older ones and older homes in ``~/.mozilla/firefox``; the snap
and the flatpak in directories of their own.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nhi_https.certificates import CA_NAME

CERTUTIL_SECONDS = 30  # a bound: a local database answers at once
FIREFOX_FLATPAK = Path(".var/app/org.mozilla.firefox")
# Chromium's sandboxed builds: trusted there only where the browser has made its database
CHROMIUM_SANDBOXED = (
    Path("snap/chromium/current/.pki/nssdb"),
    Path(".var/app/org.chromium.Chromium/.pki/nssdb"),
)
# "nhi-broker local CA (HOST, DATE, KEY)", or "… (HOST)" as earlier releases named it
_CA_NICKNAME = re.compile(re.escape(CA_NAME) + r" \((?P<host>[^,()]*)(?:, [^()]*)?\)")
_LISTED = re.compile(r"(?P<nickname>.*\S)\s+\S*,\S*,\S*\s*")  # a row of `certutil -L`


class TrustError(Exception):
    """certutil is missing or failed; the message says what to do."""


@dataclass(frozen=True)
class NssDatabase:
    """One NSS database of a browser; ``create``: make it when it is not there yet."""

    path: Path
    browser: str
    create: bool


def firefox_profile_roots(home: Path, environ: Mapping[str, str]) -> tuple[Path, ...]:
    """Each directory where a Firefox may keep its ``profiles.ini``."""
    xdg = environ.get("XDG_CONFIG_HOME", "")
    config = Path(xdg) if xdg.startswith("/") else home / ".config"  # relative: ignored (XDG)
    return (
        config / "mozilla" / "firefox",
        home / ".mozilla" / "firefox",
        home / "snap" / "firefox" / "common" / ".mozilla" / "firefox",
        home / FIREFOX_FLATPAK / "config" / "mozilla" / "firefox",
        home / FIREFOX_FLATPAK / ".mozilla" / "firefox",
    )


def firefox_profiles(root: Path, notes: list[str]) -> list[tuple[str, Path]]:
    """The profiles ``root/profiles.ini`` lists: name and directory, as Firefox resolves them."""
    ini = root / "profiles.ini"
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(ini, encoding="utf-8")
    except (OSError, configparser.Error, UnicodeDecodeError) as exc:
        notes.append(f"skipped {ini}: it cannot be read ({exc})")
        return []
    profiles = []
    for section in parser.sections():
        entry = parser[section]
        if section.startswith("Profile") and entry.get("Path"):
            relative = entry.get("IsRelative", "1").strip() == "1"
            path = root / entry["Path"] if relative else Path(entry["Path"])
            profiles.append((entry.get("Name", section), path))
    return profiles


def nss_databases(
    home: Path, environ: Mapping[str, str] = os.environ
) -> tuple[list[NssDatabase], list[str]]:
    """Each NSS database of the user's browsers, and notes on what was not found."""
    found = [NssDatabase(home / ".pki" / "nssdb", "Chromium", create=True)]
    found += [
        NssDatabase(home / sandboxed, "Chromium", create=False)
        for sandboxed in CHROMIUM_SANDBOXED
        if (home / sandboxed / "cert9.db").exists()
    ]
    notes: list[str] = []
    roots = firefox_profile_roots(home, environ)
    seen: set[Path] = set()
    for root in roots:
        for name, profile in firefox_profiles(root, notes):
            if profile.resolve() in seen:
                continue
            seen.add(profile.resolve())
            if profile.is_dir():
                # a profile Firefox has not opened yet has no database: made as Firefox would
                found.append(NssDatabase(profile, f"Firefox profile {name!r}", create=True))
            else:
                notes.append(f"skipped Firefox profile {name!r}: {profile} is missing")
    if not seen:
        notes.append(
            "no Firefox profile found (no profiles.ini in "
            f"{', '.join(str(r) for r in roots)}): if Firefox is used here, start it once as "
            "this user, then run this again"
        )
    return found, notes


def trust_in_nss(ca: Path, nickname: str, database: NssDatabase) -> None:
    """Trust ``ca`` to issue TLS server certificates in ``database``, as ``nickname``.

    An earlier CA of the same reader host (a data directory made again, or one
    named as earlier releases named it) is replaced: one CA per host is trusted.
    """
    certutil = _certutil()
    where = f"sql:{database.path}"
    if not (database.path / "cert9.db").exists():
        if not database.create:
            return
        database.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        _run_certutil(certutil, "-N", "-d", where, "--empty-password")
    for earlier in _earlier_entries(certutil, where, nickname):
        _run_certutil(certutil, "-D", "-d", where, "-n", earlier)
        if earlier != nickname:
            print(f"removed {earlier!r} from {database.path}", file=sys.stderr)
    _run_certutil(certutil, "-A", "-d", where, "-t", "C,,", "-n", nickname, "-i", str(ca))
    print(f"trusted {ca} in {database.path} ({database.browser}) as {nickname!r}", file=sys.stderr)


def _earlier_entries(certutil: str, where: str, nickname: str) -> list[str]:
    """The nicknames of this host's nhi-broker CAs in the database, once per certificate."""
    ours = _CA_NICKNAME.fullmatch(nickname)
    listed = _run_certutil(certutil, "-L", "-d", where)
    rows = [_LISTED.fullmatch(line) for line in listed.splitlines()]
    found = [row["nickname"] for row in rows if row]
    if ours is None:
        return [name for name in found if name == nickname]
    same_host = [(name, _CA_NICKNAME.fullmatch(name)) for name in found]
    return [name for name, match in same_host if match and match["host"] == ours["host"]]


def _certutil() -> str:
    found = shutil.which("certutil")
    if found is None:
        raise TrustError(
            "certutil is missing: install it with 'apt-get install libnss3-tools', "
            "then run this again"
        )
    return found


def _run_certutil(certutil: str, *arguments: str) -> str:
    """certutil's output; it never waits for a password (stdin closed, a deadline)."""
    try:
        done = subprocess.run(  # noqa: S603 - certutil found on PATH, fixed arguments
            [certutil, *arguments],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=CERTUTIL_SECONDS,
        )
    except subprocess.TimeoutExpired as exc:
        raise TrustError(f"certutil {arguments[0]} did not finish in {exc.timeout:g} s") from exc
    said = (done.stderr or done.stdout).strip()
    if "SEC_ERROR_BAD_PASSWORD" in said:
        raise TrustError(
            "the database has a password (Firefox: a Primary Password): import the CA there "
            "by hand (Settings → Privacy & Security → Certificates → View Certificates → "
            "Authorities → Import, 'Trust this CA to identify websites')"
        )
    if done.returncode != 0:
        raise TrustError(f"certutil {arguments[0]} failed: {said}")
    return done.stdout
