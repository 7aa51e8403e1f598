"""Fixtures every tier shares: the kit, and the DC's side of SAM authentication."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pykka
import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from broker import config
from broker import logging as broker_logging
from broker.cards.sam import SamSession
from broker.errors import TransportError
from nhi_broker.assembly import RunningBroker, assemble
from nhi_kit.emulators import dc_grant
from nhi_kit.emulators.keys import rsa_key
from nhi_kit.emulators.kit import CardKit
from nhi_kit.emulators.pcscd import start_pcscd, stop_pcscd, vpcd_ready
from tests.browser import CHROMIUM, CHROMIUM_ARGS

DcAuthenticate = Callable[[SamSession], None]
SETTLE = 5.0  # seconds pcscd may take to see a card come or go (it polls vpcd every 0.4 s)


@pytest.fixture
def kit() -> CardKit:
    """A fresh kit: every card at its issue state."""
    return CardKit()


def authenticate_sam(sam: SamSession) -> None:
    """Run the three DC authentication steps with the kit's DC keys."""
    sam_id = sam.identity().sam_id
    sam_random = sam.dc_challenge()
    dc_random = dc_grant.new_dc_random()
    signature = sam.answer_dc(dc_random)
    public_key = rsa_key(f"sam-{sam_id}").public_key()
    assert dc_grant.sam_answer_is_valid(public_key, sam_id, dc_random, sam_random, signature)
    sam.accept_grant(dc_grant.grant(sam_id, sam_random))


@pytest.fixture
def dc_authenticate() -> DcAuthenticate:
    """A function that brings a SAM session to its authenticated state."""
    return authenticate_sam


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A running pcscd with the vpcd readers: the one already running, or one we start.

    Never skips: without pcscd or vpcd the PC/SC tests fail, loudly.
    """
    if vpcd_ready():
        yield
        return
    try:
        process = start_pcscd(tmp_path_factory.mktemp("pcscd") / "pcscd.log")
    except TransportError as exc:
        pytest.fail(str(exc))
    yield
    stop_pcscd(process)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningBroker]:
    """A sim-profile broker with its data in a fresh directory (API and console tests)."""
    broker = assemble(dataclasses.replace(config.sim_profile(), data_dir=tmp_path / "data"))
    yield broker
    broker.close()
    pykka.ActorRegistry.stop_all()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log line of the test, as JSON."""
    buffer = io.StringIO()
    broker_logging.configure(stream=buffer, json=True, level="info")
    yield buffer
    broker_logging.reset()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """One Playwright for the whole run: a second one in the same thread would refuse to start."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium (tests/browser.py), shared by the console and Swagger UI tests."""
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()
