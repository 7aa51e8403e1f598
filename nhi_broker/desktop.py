"""``nhi-broker open [cshis6://console]``: the console in the default browser, as the manual's
``start cshis6://console`` and tray menu do (the desktop entry and ``cshis6:`` handler run it).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import urllib.parse
import webbrowser
from pathlib import Path

from broker import config
from nhi_broker.layout import SERVICE, HostLayout
from nhi_broker.service import systemd_running

SCHEME = "cshis6"
PAGES = {"console": "/console"}  # the manual's only cshis6 address
CONNECT_TIMEOUT = 2.0
EXIT_NOT_RUNNING = 1
EXIT_UNKNOWN_ADDRESS = 2


def add_open_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``open [ADDRESS] [--url URL]``."""
    opener = commands.add_parser(
        "open",
        help="open the console in the default browser (starting the service if needed)",
        description="What cshis6://console does: start the installed service if nothing "
        "answers, then open the console in the default browser.",
    )
    opener.add_argument("address", nargs="?", default=None, help="cshis6://console (default)")
    opener.add_argument(
        "--url", default=None, help="the broker's address (default: $NHI_BROKER_URL or the config)"
    )


def run_open(args: argparse.Namespace) -> int:
    """Run ``open`` on this machine's installation."""
    return open_console(args.address, args.url, HostLayout(Path("/")))


def page_path(address: str | None) -> str | None:
    """``cshis6://console`` (or nothing) → ``/console``; None for any other address."""
    if not address:
        return PAGES["console"]
    parts = urllib.parse.urlsplit(address)
    # cshis6://console, cshis6://console/ and cshis6:console all name the console
    page = (parts.netloc or parts.path).strip("/").lower()
    if parts.scheme.lower() != SCHEME:
        return None
    return PAGES.get(page)


def broker_url(config_file: Path) -> str:
    """The broker's base URL on this machine, from its configuration (the sim default if none)."""
    try:
        settings = config.load(config_file) if config_file.exists() else config.sim_profile()
    except config.ConfigError:
        settings = config.sim_profile()
    host = settings.host
    if host in ("0.0.0.0", "::") or host.startswith("127.") or host == "::1":  # noqa: S104
        host = "localhost"  # the name the certificate and the manual use
    scheme = "https" if settings.tls else "http"
    return f"{scheme}://{host}:{settings.port}"


def listening(url: str) -> bool:
    """Whether something accepts connections at ``url``'s host and port."""
    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 443), CONNECT_TIMEOUT):
            return True
    except OSError:
        return False


def start_service(layout: HostLayout) -> bool:
    """``systemctl start`` the installed service; it returns once the broker said READY=1."""
    if not (layout.unit.exists() and systemd_running()):
        return False
    started = subprocess.run(  # noqa: S603 - fixed command
        ["systemctl", "start", f"{SERVICE}.service"],  # noqa: S607 - systemctl from PATH
        check=False,
    )
    return started.returncode == 0


def open_console(address: str | None, base: str | None, layout: HostLayout) -> int:
    """Start the service if it is not running, then open ``address``'s page in the browser."""
    path = page_path(address)
    if path is None:
        hint = "try cshis6://console"
        print(f"nhi-broker: {address!r} is no page of the broker: {hint}", file=sys.stderr)
        return EXIT_UNKNOWN_ADDRESS
    base = base or os.environ.get("NHI_BROKER_URL") or broker_url(layout.config_file)
    if not listening(base) and not (start_service(layout) and listening(base)):
        print(
            f"nhi-broker: nothing answers at {base}. Start it: 'sudo systemctl start {SERVICE}' "
            "once installed ('sudo nhi-broker install'), or './scripts/run' in a checkout",
            file=sys.stderr,
        )
        return EXIT_NOT_RUNNING
    url = base.rstrip("/") + path
    if not webbrowser.open(url):
        print(f"nhi-broker: no browser could be started; open {url} yourself", file=sys.stderr)
        return EXIT_NOT_RUNNING
    print(url)
    return 0
