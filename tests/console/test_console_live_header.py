"""The console's live header in Chromium against a real sim broker.

It follows cards pulled and inserted, shows a stopped broker and recovers by
itself, and polls the status when the event stream is refused.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.console.conftest import BrowserErrors, LiveServer, shoot
from tests.console.pages import LIVE, api, block, field, go, indicator, press

# --- the live header -------------------------------------------------------------------


def test_the_header_follows_a_card_pulled_and_inserted(page: Page, server: LiveServer) -> None:
    assert api(server, "POST", "/api/common/v1/Initial", {"name": "COM1"})["statusCode"] == 0
    hc = indicator(page, "hc")
    expect(hc).to_have_text(re.compile(r"實體健保卡\s*1"), timeout=LIVE)
    assert api(server, "POST", "/api/sim/v1/Remove", {"reader": "COM1 HC"})["statusCode"] == 0
    expect(hc).to_have_text(re.compile(r"無健保卡\s*0"), timeout=LIVE)
    expect(page.locator("#st-hc")).to_have_text("無 (0)")
    shoot(page, "10-header-card-pulled")
    inserted = api(
        server, "POST", "/api/sim/v1/Insert", {"reader": "COM1 HC", "card": "900000000735"}
    )
    assert inserted["statusCode"] == 0
    expect(hc).to_have_text(re.compile(r"實體健保卡\s*1"), timeout=LIVE)


def test_the_header_shows_a_stopped_broker_and_recovers_by_itself(
    page: Page, server: LiveServer, errors: BrowserErrors
) -> None:
    # Requests to a stopped server fail, and those made while it stops are refused with 503;
    # the browser says so in its console.
    errors.allow(
        r"net::ERR_(CONNECTION_REFUSED|INCOMPLETE_CHUNKED_ENCODING|EMPTY_RESPONSE|CONNECTION_RESET)"
    )
    errors.allow(r"the server responded with a status of 503 \(Service Unavailable\)")
    assert api(server, "POST", "/api/common/v1/Initial", {"name": "COM1"})["statusCode"] == 0
    expect(indicator(page, "reader")).to_contain_text("已連接", timeout=LIVE)
    go(page, "hc")
    basic = block(page, "hc", "基本資料")
    assert api(server, "POST", "/api/sam/v1/Verification")["statusCode"] == 0
    press(basic, "讀取基本資料")
    expect(field(basic, "姓名")).to_have_text("陳美玲")
    server.stop()
    expect(indicator(page, "page")).to_contain_text("未連接", timeout=2000)
    expect(indicator(page, "reader")).to_contain_text("未連接")
    # Nothing of the patient outlives the connection: data and states are unknown now.
    expect(field(basic, "姓名")).to_have_text("")
    expect(indicator(page, "hc")).to_have_text(re.compile(r"無健保卡\s*0"))
    shoot(page, "11-header-broker-stopped")
    server.start()
    expect(indicator(page, "page")).to_contain_text("已連接", timeout=5000)
    expect(indicator(page, "reader")).to_contain_text("已連接", timeout=LIVE)
    expect(indicator(page, "sam")).to_have_text(re.compile(r"實體安全模組\s*2"))
    # The stream comes back too (the browser retries within seconds), and a card pulled
    # then shows without polling.
    expect(page.locator("body")).to_have_attribute("data-events", "open", timeout=8000)
    api(server, "POST", "/api/sim/v1/Remove", {"reader": "COM1 HC"})
    expect(indicator(page, "hc")).to_have_text(re.compile(r"無健保卡\s*0"), timeout=LIVE)


def test_without_the_event_stream_the_header_polls_the_status(
    polled: LiveServer, polling_page: Page
) -> None:
    page = polling_page
    assert api(polled, "POST", "/api/common/v1/Initial", {"name": "COM1"})["statusCode"] == 0
    expect(indicator(page, "hc")).to_have_text(re.compile(r"實體健保卡\s*1"), timeout=2000)
    api(polled, "POST", "/api/sim/v1/Remove", {"reader": "COM1 HC"})
    expect(indicator(page, "hc")).to_have_text(re.compile(r"無健保卡\s*0"), timeout=2000)
