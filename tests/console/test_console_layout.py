"""The console's files and layout in Chromium against a real sim broker.

Only the console's files are served; every panel has its blocks and their
executable-state tables; secret fields are masked; the keyboard reaches
everything; a narrow screen collapses the menu.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import LiveServer, PageFactory, shoot
from tests.console.pages import go, indicator

# --- serving ---------------------------------------------------------------------------


def test_the_root_redirects_to_the_console_and_only_its_files_are_served(
    server: LiveServer,
) -> None:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(
        NoRedirect, urllib.request.HTTPSHandler(context=server.tls)
    )
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(server.url + "/", timeout=5)
    assert redirect.value.code == 302
    assert redirect.value.headers["Location"].endswith("/console")
    with urllib.request.urlopen(server.url + "/console", timeout=5, context=server.tls) as page:
        assert page.headers["Content-Type"].startswith("text/html")
        assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]
        text = page.read().decode()
        assert "控制軟體主控台" in text
        assert 'id="page-hc"' in text  # the pages are in place
    with urllib.request.urlopen(
        server.url + "/console/index.html", timeout=5, context=server.tls
    ) as same:
        assert same.read().decode() == text
    with urllib.request.urlopen(
        server.url + "/console/console.js", timeout=5, context=server.tls
    ) as script:
        assert script.headers["Content-Type"].startswith("text/javascript")
    missing_paths = ("/console/nothing.js", "/console/..%2Fconsole.py", "/console/rules.py")
    for missing in (*missing_paths, "/console/pages/hc.html", "/console/pages"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url + missing, timeout=5, context=server.tls)
        assert refused.value.code == 404


# --- every panel, keyboard, small screens -----------------------------------------------


def test_every_panel_has_its_blocks_and_their_executable_state_tables(page: Page) -> None:
    expected = {
        "common": ["初始化裝置", "版本編號", "讀卡機時間"],
        "sam": ["驗證及登出", "基本資料", "安全模組簽章"],
        "hca": [
            "醫事人員卡驗證 PIN 碼",
            "驗證醫事人員行動憑證",
            "基本資料",
            "醫事人員簽章",
            "設定 PIN 碼",
            "重設 PIN 碼",
        ],
        "hc": [
            "驗證虛擬健保卡",
            "基本資料",
            "簽章",
            "PIN",
            "讀取虛擬健保卡基本資料",
            "轉移虛擬健保卡",
            "實體健保卡更新註記",
        ],
        "settings": ["雲端安全模組", "PCSC 讀卡機", "CORS 設定"],
        "swagger": ["應用程式介面"],
        "about": ["主控台程式版本", "狀態碼"],
    }
    for name, headings in expected.items():
        section = go(page, name)
        expect(section.locator("section.block h2")).to_have_text(headings)
        if name in ("common", "sam", "hca", "hc"):
            for place in section.locator("section.block").all():
                expect(place.locator("table.rules")).to_have_count(1)
        expect(page.locator("#status")).to_be_visible()
        expect(page.locator("#log")).to_be_visible()
        shoot(page, f"panel-{name}", full_page=name != "swagger")
    # 驗證安全模組: 初始化 ✓, SAM 1 → 2 (broker/rules.py, as the manual draws it).
    go(page, "sam")
    row = page.locator("#page-sam table.rules tr[data-function='SAM_VERIFY'] > *")
    expect(row).to_have_text(["驗證安全模組", "✓", "1 → 2", "", ""])
    go(page, "hc")
    pin_set = page.locator("#page-hc table.rules tr[data-function='HC_PIN_SET'] > *")
    expect(pin_set).to_have_text(["設定 PIN", "✓", "2", "", "2，已驗 PIN"])
    three = page.locator("#page-hc table.rules tr[data-function='HC_THREE_CARD_SIGN'] > *")
    expect(three).to_have_text(["三卡簽章", "✓", "2", "3", "2 → 3"])
    go(page, "about")
    expect(page.locator("#console-version")).to_have_text("1.1.8")
    expect(page.locator("#code-rows tr").filter(has_text="1102")).to_contain_text("未置入卡片")
    go(page, "swagger")
    link = page.locator("#swagger-link")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("href", "/api/swagger/index.html")


def test_secret_fields_are_masked_and_not_autocompleted(page: Page) -> None:
    for selector in ("#hca-pin", "#hca-new-pin", "#hca-puk", "#hca-reset-pin", "#hc-pin"):
        secret = page.locator(selector)
        expect(secret).to_have_attribute("type", "password")
        expect(secret).to_have_attribute("autocomplete", "off")


def test_the_console_is_usable_from_the_keyboard(page: Page) -> None:
    page.locator("#menu-toggle").focus()
    page.keyboard.press("Tab")
    expect(page.locator("#menu a[data-page='common']")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#menu a[data-page='hca']")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#page-hca")).to_be_visible()
    # ⋯ menu: Enter opens it on its first item, arrows move, Escape closes it.
    page.locator("#menu a[data-page='settings']").press("Enter")
    more_button = page.locator("#cors .more-button")
    more_button.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#menu-cors [role='menuitem']").first).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#menu-cors [role='menuitem']").nth(1)).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#menu-cors")).to_be_hidden()
    expect(more_button).to_be_focused()
    # A dialog takes the focus, keeps it, and Escape closes it.
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    dialog = page.locator("#dlg-cors")
    expect(dialog).to_be_visible()
    expect(page.locator("#cors-host")).to_be_focused()
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('dialog')?.id") == "dlg-cors"
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(more_button).to_be_focused()


def test_a_narrow_screen_collapses_the_menu(open_page: PageFactory, server: LiveServer) -> None:
    page = open_page(f"{server.url}/console", viewport={"width": 420, "height": 860})
    expect(indicator(page, "page")).to_contain_text("已連接")
    menu = page.locator("#menu")
    toggle = page.locator("#menu-toggle")
    expect(menu).not_to_be_in_viewport()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    shoot(page, "12-narrow-common", full_page=True)
    toggle.click()
    expect(menu).to_be_in_viewport(ratio=1)
    expect(page.locator("#menu a[data-page='common']")).to_be_focused()
    shoot(page, "13-narrow-menu-open")
    page.locator("#menu a[data-page='hc']").click()
    expect(page.locator("#page-hc")).to_be_visible()
    expect(menu).not_to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    shoot(page, "14-narrow-hc", full_page=True)
    page.evaluate("location.hash = '#/settings'")
    expect(page.locator("#page-settings")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    shoot(page, "15-narrow-settings", full_page=True)
