"""Opening the console as the manual does: ``cshis6://console`` through ``xdg-open`` and the
installed desktop entry, in a temporary XDG home, with a browser that records its argument."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import NHI_BROKER, ServeProcess, serving

DESKTOP_ENTRY = "usr/local/share/applications/nhi-broker-console.desktop"
SESSION_VARIABLES = (
    "XDG_CURRENT_DESKTOP", "DESKTOP_SESSION", "KDE_FULL_SESSION", "GNOME_DESKTOP_SESSION_ID",
    "WAYLAND_DISPLAY", "XDG_DATA_DIRS", "XDG_CONFIG_DIRS", "NHI_BROKER_URL",
)  # fmt: skip
FAKE_BROWSER = '#!/bin/sh\nprintf "%s\\n" "$@" >> "$BROWSER_RECORD"\n'


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``nhi-broker install`` lays out (the desktop entry among it)."""
    root = tmp_path_factory.mktemp("installed") / "root"
    done = subprocess.run(
        [NHI_BROKER, "install", "--root", str(root)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    data_dir = tmp_path_factory.mktemp("broker") / "data"
    with serving("--profile", "sim", "--data-dir", str(data_dir)) as served:
        yield served
        served.stop()


def desktop_session(tmp_path: Path, root: Path, **extra: str) -> dict[str, str]:
    """A desktop user's environment: its own XDG dirs, the installed root's data, a browser."""
    browser = tmp_path / "bin" / "browser"
    browser.parent.mkdir()
    browser.write_text(FAKE_BROWSER)
    browser.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in SESSION_VARIABLES}
    return (
        env
        | {
            "HOME": str(tmp_path / "home"),
            "XDG_DATA_HOME": str(tmp_path / "xdg" / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg" / "config"),
            "XDG_CONFIG_DIRS": str(tmp_path / "xdg" / "etc"),
            "XDG_DATA_DIRS": str(root / "usr" / "local" / "share"),
            "DISPLAY": ":77",  # a graphical session (xdg-open asks handlers only then); never used
            "BROWSER": str(browser),
            "BROWSER_RECORD": str(tmp_path / "browser-opened"),
            "PATH": f"{root / 'usr' / 'local' / 'bin'}:{os.environ['PATH']}",
        }
        | extra
    )


def browser_opened(env: dict[str, str]) -> list[str]:
    record = Path(env["BROWSER_RECORD"])
    return record.read_text().splitlines() if record.exists() else []


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_xdg_open_cshis6_console_opens_the_console_of_the_running_broker(
    tmp_path: Path, root: Path, broker: ServeProcess
) -> None:
    xdg_open = shutil.which("xdg-open")
    assert xdg_open is not None, "xdg-open is missing: scripts/install-system.sh installs xdg-utils"
    # GNOME, Debian's default desktop: xdg-open hands the address to gio, which finds the
    # handler in the installed mimeinfo.cache
    env = desktop_session(tmp_path, root, NHI_BROKER_URL=broker.url, XDG_CURRENT_DESKTOP="GNOME")
    handler = run(["xdg-mime", "query", "default", "x-scheme-handler/cshis6"], env)
    assert handler.stdout.strip() == "nhi-broker-console.desktop", handler.stderr
    opened = run([xdg_open, "cshis6://console"], env)
    assert opened.returncode == 0, opened.stdout + opened.stderr
    # the broker's console, not the cshis6: address handed on to the browser
    assert browser_opened(env) == [f"{broker.url}/console"]


def test_the_desktop_entry_is_valid_and_named_as_in_the_manual(root: Path) -> None:
    validate = shutil.which("desktop-file-validate")
    assert validate is not None, (
        "desktop-file-validate is missing: scripts/install-system.sh installs desktop-file-utils"
    )
    entry = root / DESKTOP_ENTRY
    checked = subprocess.run([validate, str(entry)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout == ""  # not even a hint
    lines = entry.read_text(encoding="utf-8").splitlines()
    assert "Name=控制軟體 6.0 主控台" in lines
    assert "MimeType=x-scheme-handler/cshis6;" in lines
    assert "Exec=nhi-broker open %u" in lines


def test_open_without_an_address_opens_the_console(
    tmp_path: Path, root: Path, broker: ServeProcess
) -> None:
    env = desktop_session(tmp_path, root, NHI_BROKER_URL=broker.url)
    opened = run([str(NHI_BROKER), "open"], env)
    assert opened.returncode == 0, opened.stderr
    assert browser_opened(env) == [f"{broker.url}/console"]


def test_open_refuses_other_cshis6_addresses_and_opens_nothing(
    tmp_path: Path, root: Path, broker: ServeProcess
) -> None:
    env = desktop_session(tmp_path, root, NHI_BROKER_URL=broker.url)
    for address in ("cshis6://evil.example/steal", "https://evil.example/"):
        refused = run([str(NHI_BROKER), "open", address], env)
        assert refused.returncode == 2
        assert "try cshis6://console" in refused.stderr
    assert browser_opened(env) == []


def test_open_with_no_broker_running_says_how_to_start_it(tmp_path: Path, root: Path) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = f"https://localhost:{closed.getsockname()[1]}"
        env = desktop_session(tmp_path, root, NHI_BROKER_URL=url)
        shown = run([str(NHI_BROKER), "open", "cshis6://console"], env)
    assert shown.returncode == 1
    assert "systemctl start nhi-broker" in shown.stderr
    assert browser_opened(env) == []
