"""The console in real Chromium (Debian's, through Playwright) against a real sim broker.

The broker is served as ``serve`` serves it: HTTPS through HAProxy in front
of the same waitress pools.

Every page fails its test on a browser console error or an uncaught page
error, unless the test declares the ones it expects (a stopped server).
"""

from __future__ import annotations

import dataclasses
import re
import ssl
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import falcon
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    ViewportSize,
)

from api.pools import drain_seconds, pools
from api.services import ApiServices
from nhi_broker.assembly import RunningBroker
from nhi_broker.serve import certificate_paths
from nhi_broker.webapp import broker_app
from nhi_https.haproxy import Limits
from nhi_https.https import HttpsServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


@pytest.fixture
def services(running: RunningBroker) -> ApiServices:
    """The API's services."""
    return ApiServices(running)


@pytest.fixture
def app(services: ApiServices) -> falcon.App[Any, Any]:
    """The whole API, the console included."""
    return broker_app(services)


def unverified() -> ssl.SSLContext:
    """Calls from outside the browser do not check the certificate (the browser neither)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class LiveServer:
    """The app over HTTPS on loopback; it can stop and start again on the same port."""

    def __init__(self, app: falcon.App[Any, Any], services: ApiServices) -> None:
        self._app = app
        self._data_dir = services.broker.config.data_dir
        # Each server its own sockets: a test may run a second one beside the fixture's.
        self._run_dir = Path(tempfile.mkdtemp(dir=self._data_dir, prefix="serve-"))
        self._pools = pools(drain_seconds(services.call_timeout))
        self.tls = unverified()
        self.port = 0
        self._https: HttpsServer | None = None
        self.start()
        assert self._https is not None
        self.url: str = self._https.url.replace("127.0.0.1", "localhost")

    def stop(self) -> None:
        """Gone at once: a stopped broker, as a browser sees it (no drain for open streams)."""
        if self._https is not None:
            self._https.stop(0.2)
            self._https = None

    def start(self) -> None:
        """Listen (again: on the same port)."""
        if self._https is not None:
            return
        cert, key = certificate_paths(self._data_dir)
        self._https = HttpsServer(
            self._app,
            "127.0.0.1",
            self.port,
            cert=cert,
            key=key,
            run_dir=self._run_dir,
            pools=self._pools,
            limits=Limits(maxconn=256, drain=0.2),
        )
        self._https.start()
        self.port = self._https.address[1]


@pytest.fixture
def server(app: falcon.App[Any, Any], services: ApiServices) -> Iterator[LiveServer]:
    """HTTPS on a free loopback port."""
    live = LiveServer(app, services)
    yield live
    live.stop()


@pytest.fixture
def polled(services: ApiServices) -> Iterator[LiveServer]:
    """A second server whose event stream is refused (503): its pages poll Status."""
    services.max_streams = 0
    live = LiveServer(broker_app(services), services)
    yield live
    live.stop()


@dataclasses.dataclass
class BrowserErrors:
    """What the browser complained about; ``allow`` lists patterns a test expects."""

    seen: list[str] = dataclasses.field(default_factory=list)
    allowed: list[re.Pattern[str]] = dataclasses.field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.seen if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def errors() -> BrowserErrors:
    return BrowserErrors()


PageFactory = Callable[..., Page]


@pytest.fixture
def open_page(browser: Browser, errors: BrowserErrors, server: LiveServer) -> Iterator[PageFactory]:
    """Opens a page (a fresh context) that records console errors and page errors.

    Its pages close before the server stops (a stopped server is a test's own business).
    """
    contexts = []

    def opener(url: str, viewport: ViewportSize | None = None) -> Page:
        # The broker's own certificate is not in this browser's store.
        context = browser.new_context(
            viewport=viewport or DESKTOP, locale="zh-TW", ignore_https_errors=True
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(5000)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                errors.seen.append(f"console: {message.text} @ {message.location.get('url')}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.seen.append(f"pageerror: {exc}"))
        page.goto(url)
        return page

    yield opener
    for context in contexts:
        context.close()
    assert errors.unexpected() == [], "the browser reported errors"


@pytest.fixture
def page(open_page: PageFactory, server: LiveServer) -> Page:
    """The console at 1280×800, connected to its broker."""
    console = open_page(f"{server.url}/console")
    console.locator("#ind-page.on").wait_for()
    return console


@pytest.fixture
def polling_page(open_page: PageFactory, polled: LiveServer, errors: BrowserErrors) -> Page:
    """The console of the ``polled`` server, connected to it (by polling)."""
    errors.allow(r"/api/events/v1")  # every stream refused: 503
    console = open_page(f"{polled.url}/console")
    console.locator("#ind-page.on").wait_for()
    return console


def shoot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """A screenshot in test-artifacts/console/ (looked at by people, not compared)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if full_page:  # sticky header and menu are drawn where the page was scrolled to
        page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=full_page)
    return path
