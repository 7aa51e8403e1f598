"""A call that itself ends a card's session keeps its own result on screen.

Logout, 匯出 and 註記更新 end the holder's session: the page then forgets what it showed
of the person, except the outcome of that very call (an export's transfer code is what
the user carries to the other device). The reply and the state change come by different
roads, in either order; with the event stream refused, the state comes by polling, after
the reply, which is the order that must not lose the result.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.console.conftest import LiveServer
from tests.console.pages import CLOUD_SAM, api, block, field, go, indicator, press

POLLED = 3000  # ms: a poll each second, then the page applies it


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
