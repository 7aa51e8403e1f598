"""Pages of other sites in real Chromium: what its Fetch Metadata lets them make the broker do.

A page's ``<img>`` and links carry no ``Origin``; Chromium says ``Sec-Fetch-Site:
cross-site`` on them, and the broker refuses them (403) before anything runs: the SAM
stays unverified. A link still opens the console. A page whose origin is in the CORS
list calls with ``fetch`` as before. The other sites are a plain HTTP server on
loopback, reached by their names (Chromium maps them to 127.0.0.1).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import falcon
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from api.services import ApiServices
from broker.state import SamStatus
from nhi_broker.assembly import RunningBroker
from nhi_broker.webapp import broker_app
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.console.conftest import LiveServer
from tests.console.pages import api

HOSTILE, HIS = "hostile.example", "his.clinic.test"
READ_CARD = "/api/hc/v1/BasicData"  # with the cloud SAM at 1, it first verifies the SAM
PAGES: dict[str, str] = {}  # path → the HTML the other sites serve


class SitePages(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGES.get(self.path, "").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


class Received:
    """What reached the broker from the browser: path, fetch metadata, Origin, status."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, str | None, str | None, int]] = []

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, succeeded: bool
    ) -> None:
        """Runs after any refusal too (falcon calls every process_response)."""
        fetch = (req.get_header("Sec-Fetch-Site"), req.get_header("Sec-Fetch-Mode"))
        self.seen.append((req.path, *fetch, req.get_header("Origin"), resp.status_code))

    def of(self, path: str) -> list[tuple[str | None, str | None, str | None, int]]:
        return [entry[1:] for entry in self.seen if entry[0] == path]


@pytest.fixture
def received() -> Received:
    return Received()


@pytest.fixture
def app(services: ApiServices, received: Received) -> falcon.App[Any, Any]:
    """The console's app, recording what each request brought."""
    recording = broker_app(services)
    recording.add_middleware(received)
    return recording


@pytest.fixture(scope="module")
def sites() -> Iterator[int]:
    """The other sites' server; its port."""
    served = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SitePages)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served.server_address[1]
    served.shutdown()
    served.server_close()


@pytest.fixture(scope="module")
def named_browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium that finds the other sites' names on loopback."""
    rules = f"--host-resolver-rules=MAP {HOSTILE} 127.0.0.1, MAP {HIS} 127.0.0.1"
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rules])
    yield chromium
    chromium.close()


@pytest.fixture
def context(named_browser: Browser) -> Iterator[BrowserContext]:
    context = named_browser.new_context(ignore_https_errors=True)
    yield context
    context.close()


@pytest.fixture
def sam_present(server: LiveServer, running: RunningBroker) -> None:
    """The local station on the cloud SAM, not verified yet; his.clinic.test in the CORS list."""
    assert api(server, "POST", "/api/settings/v1/Cors/Add", {"host": HIS})
    assert api(server, "POST", "/api/common/v1/Initial")["statusCode"] == 0
    assert running.board.get("local").sam_status == SamStatus.PRESENT


def site_page(context: BrowserContext, sites: int, name: str, body: str) -> tuple[Page, str]:
    """A page of the site ``name`` holding ``body``; the page (not opened yet) and its URL."""
    PAGES[f"/{name}"] = body
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page, f"http://{name}:{sites}/{name}"


@pytest.mark.usefixtures("sam_present")
def test_another_sites_image_cannot_make_the_broker_verify_the_sam(
    context: BrowserContext,
    sites: int,
    server: LiveServer,
    received: Received,
    running: RunningBroker,
) -> None:
    image = f'<img src="{server.url}{READ_CARD}" onerror="document.title = \'failed\'">'
    page, url = site_page(context, sites, HOSTILE, image)
    page.goto(url)
    page.wait_for_function("document.title === 'failed'")
    assert received.of(READ_CARD) == [("cross-site", "no-cors", None, 403)]
    assert running.board.get("local").sam_status == SamStatus.PRESENT


@pytest.mark.usefixtures("sam_present")
def test_a_link_on_another_site_opens_the_console_but_runs_no_function(
    context: BrowserContext,
    sites: int,
    server: LiveServer,
    received: Received,
    running: RunningBroker,
) -> None:
    links = f'<a id="call" href="{server.url}{READ_CARD}">call</a>'
    links += f'<a id="console" href="{server.url}/console">console</a>'
    page, url = site_page(context, sites, HOSTILE, links)
    page.goto(url)
    with page.expect_navigation() as followed:
        page.click("#call")
    assert followed.value is not None
    assert followed.value.status == 403
    assert received.of(READ_CARD) == [("cross-site", "navigate", None, 403)]
    assert running.board.get("local").sam_status == SamStatus.PRESENT
    page.goto(url)
    with page.expect_navigation() as opened:
        page.click("#console")
    assert opened.value is not None
    assert opened.value.status == 200
    assert received.of("/console") == [("cross-site", "navigate", None, 200)]
    page.locator("#ind-page.on").wait_for()  # its own calls are same-origin: they run
    calls = [e[1:] for e in received.seen if e[0].startswith("/api/") and e[0] != READ_CARD]
    from_browser = [call for call in calls if call[0] is not None]  # not the fixture's
    assert from_browser
    assert set(from_browser) == {("same-origin", "cors", None, 200)}


@pytest.mark.usefixtures("sam_present")
def test_a_page_in_the_cors_list_still_calls_with_fetch(
    context: BrowserContext,
    sites: int,
    server: LiveServer,
    received: Received,
    running: RunningBroker,
) -> None:
    page, url = site_page(context, sites, HIS, "<p>HIS</p>")
    page.goto(url)
    answer = page.evaluate(
        "async url => { const r = await fetch(url); return [r.status, await r.json()]; }",
        f"{server.url}{READ_CARD}",
    )
    assert (answer[0], answer[1]["statusCode"]) == (200, 0)
    assert received.of(READ_CARD) == [("cross-site", "cors", f"http://{HIS}:{sites}", 200)]
    assert running.board.get("local").sam_status == SamStatus.VERIFIED
