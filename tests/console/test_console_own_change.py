"""A call that itself ends a card's session keeps its own result on screen.

Logout, 匯出 and 註記更新 end the holder's session: the page then forgets what it showed
of the person, except the outcome of that very call (an export's transfer code is what
the user carries to the other device). The reply and the state change come by different
roads, in either order; with the event stream refused, the state comes by polling, after
the reply, which is the order that must not lose the result.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from api.services import ApiServices
from nhi_broker.webapp import broker_app
from tests.console.conftest import BrowserErrors, LiveServer, PageFactory
from tests.console.pages import api, block, field, go, indicator, press

CLOUD_SAM = "901000000047"  # the kit's cloud SAM: verifies itself at Initial
POLLED = 3000  # ms: a poll each second, then the page applies it


@pytest.fixture
def polled(services: ApiServices) -> Iterator[LiveServer]:
    services.max_streams = 0  # every event stream refused (503): the page polls Status
    served = LiveServer(broker_app(services), services)
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def polling_page(polled: LiveServer, open_page: PageFactory, errors: BrowserErrors) -> Page:
    errors.allow(r"/api/events/v1")
    page = open_page(f"{polled.url}/console")
    expect(indicator(page, "page")).to_contain_text("已連接")
    return page


def test_an_exported_virtual_card_keeps_its_transfer_code_on_screen(
    polled: LiveServer, polling_page: Page
) -> None:
    page = polling_page
    assert api(polled, "POST", "/api/common/v1/Initial", {"name": CLOUD_SAM})["statusCode"] == 0
    assert (
        api(polled, "POST", "/api/sim/v1/Remove", {"reader": "Virtual Reader 0"})["statusCode"] == 0
    )
    token = api(polled, "POST", "/api/sim/v1/VirtualHc/Token", {"card": "900000000711"})["token"]
    verified = api(polled, "POST", "/api/hc/v1/Verification/VirtualHc", {"token": token})
    assert verified["statusCode"] == 0
    expect(indicator(page, "hc")).to_have_text(re.compile(r"虛擬健保卡\s*2"), timeout=POLLED)
    go(page, "hc")
    basic = block(page, "hc", "基本資料")
    press(basic, "讀取基本資料")
    expect(field(basic, "姓名")).to_have_text("吳佳蓉")

    transfer = block(page, "hc", "轉移虛擬健保卡")
    press(transfer, "匯出")
    expect(indicator(page, "hc")).to_have_text(re.compile(r"無健保卡\s*0"), timeout=POLLED)
    # The person's data went with the card; the export's own outcome did not.
    expect(field(basic, "姓名")).to_have_text("")
    expect(transfer.locator("[data-result]")).to_have_attribute("data-code", "0000")
    code = transfer.locator("textarea[name='transferCode']")
    expect(code).not_to_have_value("")
    press(transfer, "匯入")
    expect(indicator(page, "hc")).to_have_text(re.compile(r"虛擬健保卡\s*2"), timeout=POLLED)


def test_a_logout_shows_its_result_and_a_later_pull_still_clears_the_page(
    polled: LiveServer, polling_page: Page
) -> None:
    page = polling_page
    assert api(polled, "POST", "/api/common/v1/Initial", {"name": "COM1"})["statusCode"] == 0
    assert api(polled, "POST", "/api/sam/v1/Verification")["statusCode"] == 0
    go(page, "hc")
    basic = block(page, "hc", "基本資料")
    press(basic, "讀取基本資料")  # the card is authenticated on its first read: state 2
    expect(field(basic, "姓名")).to_have_text("陳美玲")
    expect(indicator(page, "hc")).to_have_text(re.compile(r"實體健保卡\s*2"), timeout=POLLED)

    session = block(page, "hc", "驗證虛擬健保卡")
    press(session, "登出")
    expect(indicator(page, "hc")).to_have_text(re.compile(r"實體健保卡\s*1"), timeout=POLLED)
    expect(field(basic, "姓名")).to_have_text("")
    expect(session.locator("[data-result]")).to_have_attribute("data-code", "0000")
    # Kept once, for its own change: the card pulled later takes the logout's result too.
    api(polled, "POST", "/api/sim/v1/Remove", {"reader": "COM1 HC"})
    expect(indicator(page, "hc")).to_have_text(re.compile(r"無健保卡\s*0"), timeout=POLLED)
    expect(session.locator("[data-result]")).not_to_have_attribute("data-code", "0000")
