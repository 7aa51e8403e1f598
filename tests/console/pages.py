"""How the console tests drive a page: its menu, blocks, fields and header, and the sim API."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.console.conftest import LiveServer

LIVE = 1000  # ms: the header follows the broker within a second
CLOUD_SAM = "901000000047"  # the kit's cloud SAM (test): it verifies itself at Initial


def api(server: LiveServer, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One call from outside the browser (the sim control API)."""
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(body or {}).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10, context=server.tls) as response:
        return json.loads(response.read())


def go(page: Page, name: str) -> Locator:
    """Open a page of the menu by clicking it; the page's section."""
    page.locator(f"#menu a[data-page='{name}']").click()
    section = page.locator(f"#page-{name}")
    expect(section).to_be_visible()
    return section


def block(page: Page, name: str, heading: str) -> Locator:
    """A function block of a page, by its heading."""
    return page.locator(f"#page-{name} section.block").filter(
        has=page.get_by_role("heading", name=heading, exact=True)
    )


def press(place: Locator, button: str, code: str = "0000") -> None:
    """Click a block's button and expect its result code."""
    place.get_by_role("button", name=button, exact=True).click()
    expect(place.locator("[data-result]")).to_have_attribute("data-code", code)


def field(place: Locator, label: str) -> Locator:
    """The value beside a labelled field."""
    return place.locator(".fields > div").filter(has_text=label).locator("dd")


def indicator(page: Page, name: str) -> Locator:
    return page.locator(f"#ind-{name}")
