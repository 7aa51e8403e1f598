"""Chromium and Firefox trust the served certificate once ``cert install`` put the broker's
CA into their NSS databases.

A real sim broker over HTTPS; Debian's Chromium and Firefox ESR under a temporary
HOME: Chromium reads ``~/.pki/nssdb``, Firefox its profile's database. No
``ignore_https_errors``, no ``acceptInsecureCerts``; the same browser profile refuses
the console before ``cert install``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from marionette_driver import By, Wait
from marionette_driver.errors import InsecureCertificateException
from playwright.sync_api import Browser, Error, Playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.firefox import PROFILE_ROOTS, create_profile, firefox
from tests.nss import user_env
from tests.serving import NHI_BROKER, ServeProcess, serving, sim_config_with_names

LAN_NAME = "reader-host.clinic.test"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """The sim broker over HTTPS, its certificate naming a LAN station name too."""
    base = tmp_path_factory.mktemp("trust")
    toml = sim_config_with_names(base / "sim.toml", [LAN_NAME])
    with serving("--config", str(toml), "--data-dir", str(base / "data")) as served:
        yield served
        served.stop()


def chromium_with_home(playwright: Playwright, home: Path) -> Browser:
    """Chromium whose NSS database is ``home/.pki/nssdb``; the LAN name resolves to loopback."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {LAN_NAME} 127.0.0.1"],
        env={**os.environ, "HOME": str(home)},
    )


def cert_install(tmp_path: Path, broker: ServeProcess, home: Path) -> str:
    """``cert install`` for ``home``'s browsers (the system store in a temporary root)."""
    data_dir = broker.ready["data_dir"]
    installed = subprocess.run(
        [NHI_BROKER, "cert", "install", "--root", str(tmp_path / "root"), "--data-dir", data_dir],
        env=user_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    return installed.stderr


def trusting_home(tmp_path: Path, broker: ServeProcess) -> Path:
    """A HOME whose NSS database trusts the broker's CA, put there by ``cert install``."""
    home = tmp_path / "home"
    home.mkdir()
    cert_install(tmp_path, broker, home)
    return home


def test_chromium_opens_the_console_over_https_once_the_ca_is_trusted(
    playwright: Playwright, broker: ServeProcess, tmp_path: Path
) -> None:
    browser = chromium_with_home(playwright, trusting_home(tmp_path, broker))
    try:
        page = browser.new_context().new_page()
        response = page.goto(f"https://localhost:{broker.port}/console")
        assert response is not None
        assert response.ok
        page.locator("#ind-page.on").wait_for(timeout=10_000)  # its event stream is connected
    finally:
        browser.close()


def test_chromium_accepts_the_certificate_under_a_lan_station_name(
    playwright: Playwright, broker: ServeProcess, tmp_path: Path
) -> None:
    browser = chromium_with_home(playwright, trusting_home(tmp_path, broker))
    try:
        page = browser.new_context().new_page()
        response = page.goto(f"https://{LAN_NAME}:{broker.port}/api/common/v1/Status")
        assert response is not None
        assert response.ok
        details = response.security_details()
        assert details is not None
        assert str(details.get("issuer", "")).startswith("nhi-broker local CA")
    finally:
        browser.close()


def test_chromium_refuses_the_console_without_the_ca(
    playwright: Playwright, broker: ServeProcess, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    browser = chromium_with_home(playwright, home)
    try:
        page = browser.new_context().new_page()
        with pytest.raises(Error, match="ERR_CERT_AUTHORITY_INVALID"):
            page.goto(f"https://localhost:{broker.port}/console")
    finally:
        browser.close()


@pytest.mark.timeout(180)  # Firefox starts twice
@pytest.mark.parametrize("layout", ["xdg", "legacy"])
def test_firefox_opens_the_console_once_cert_install_trusted_the_ca_in_its_profile(
    broker: ServeProcess, tmp_path: Path, layout: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    if layout == "legacy":
        (home / ".mozilla" / "firefox").mkdir(parents=True)  # an older home: Firefox keeps it
    profile = create_profile(home, "clinic")
    assert profile.parent == home / PROFILE_ROOTS[layout == "legacy"]
    console = f"https://localhost:{broker.port}/console"
    # the same profile, before cert install
    with firefox(home, "clinic", profile) as browser, pytest.raises(InsecureCertificateException):
        browser.navigate(console)
    assert f"in {profile} (Firefox profile 'clinic')" in cert_install(tmp_path, broker, home)
    with firefox(home, "clinic", profile) as browser:
        browser.navigate(console)
        assert browser.title.endswith("控制軟體主控台")
        Wait(browser, timeout=10).until(  # its event stream is connected
            lambda b: b.find_elements(By.CSS_SELECTOR, "#ind-page.on")
        )
