"""Debian's Firefox ESR, headless, driven over Marionette, its own remote protocol.

No geckodriver (not a Debian package): Firefox listens for Marionette itself
(``--marionette``) and Mozilla's ``marionette_driver`` client talks to it. Each
profile is one Firefox made itself (``-CreateProfile``) under a test's HOME, so it
lands where that Firefox puts profiles: ``~/.config/mozilla/firefox`` (XDG) unless
``~/.mozilla`` exists, then ``~/.mozilla/firefox``.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from marionette_driver.marionette import Marionette

from tests.nss import user_env

FIREFOX = "/usr/bin/firefox-esr"
PROFILE_ROOTS = (Path(".config/mozilla/firefox"), Path(".mozilla/firefox"))
CLOSED_PORT = 9  # discard: nothing listens on loopback's
PREFS = {
    "marionette.port": 0,  # a free port, which Firefox logs
    # Nothing leaves the machine, not even a DNS query: every name resolves to loopback,
    # and every request but localhost's goes to a SOCKS proxy on a closed loopback port
    # (Firefox's own services call out at start, before Marionette's settings apply).
    "network.dns.forceResolve": "127.0.0.1",
    "network.proxy.type": 1,
    "network.proxy.socks": "127.0.0.1",
    "network.proxy.socks_port": CLOSED_PORT,
    "network.proxy.socks_remote_dns": True,
    "network.proxy.failover_direct": False,
    "network.dns.disablePrefetch": True,
    "network.trr.mode": 5,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "app.update.disabledForTesting": True,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.page": 0,
}
LISTENING = re.compile(r"Marionette\s+INFO\s+Listening on port (\d+)")


def create_profile(home: Path, name: str) -> Path:
    """A new profile made by Firefox under ``home``; its directory, as its profiles.ini says."""
    subprocess.run(
        [FIREFOX, "--headless", "-CreateProfile", name],
        env=user_env(home),
        capture_output=True,
        timeout=60,
        check=True,
    )
    for root in PROFILE_ROOTS:
        ini = configparser.ConfigParser(interpolation=None)
        ini.read(home / root / "profiles.ini")
        for section in ini.sections():
            if ini[section].get("Name") == name:
                return home / root / ini[section]["Path"]
    raise AssertionError(f"Firefox made no profile {name!r} under {home}")


@contextlib.contextmanager
def firefox(home: Path, profile: str, directory: Path) -> Iterator[Marionette]:
    """Headless Firefox on ``profile`` (chosen by name from its profiles.ini), in a session."""
    (directory / "user.js").write_text(
        "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFS.items())
    )
    process = subprocess.Popen(
        [FIREFOX, "--headless", "--marionette", "--no-remote", "-P", profile],
        env=user_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        port = _marionette_port(process)
        client = Marionette(host="127.0.0.1", port=port, startup_timeout=60)
        client.start_session()  # acceptInsecureCerts stays false: certificate errors are errors
        client.timeout.page_load = 30
        yield client
        client.delete_session()
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _marionette_port(process: subprocess.Popen[str]) -> int:
    """The port Firefox logs once Marionette listens; its further output drained aside."""
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if match := LISTENING.search(line):
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return int(match[1])
    raise AssertionError("Firefox ended before Marionette listened:\n" + "".join(seen))
