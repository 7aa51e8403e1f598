"""The console in Chromium against a real sim broker: a clinic's morning, live header, layout."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from api.services import ApiServices
from nhi_broker.webapp import broker_app
from nhi_kit.emulators.cloud_sam_files import kit_cloud_sam
from tests.console.conftest import BrowserErrors, LiveServer, PageFactory, shoot

LIVE = 1000  # ms: the header follows the broker within a second
CLOUD_SAM = "901000000047"
SAM_FILE = f"7777777777{CLOUD_SAM}.SAM"


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


def signature(place: Locator) -> dict[str, Any]:
    text = place.locator("pre.json").inner_text()
    assert text.startswith("{\n  "), "the signature is shown as formatted JSON"
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def log_rows(page: Page) -> Locator:
    return page.locator("#log-rows tr")


def more(page: Page, section: str, item: str) -> None:
    """Open a block's ⋯ menu and choose an item."""
    page.locator(f"{section} .more-button").click()
    page.locator(f"{section} .more-menu").get_by_role("menuitem", name=item, exact=True).click()


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
        assert "控制軟體主控台" in page.read().decode()
    with urllib.request.urlopen(
        server.url + "/console/console.js", timeout=5, context=server.tls
    ) as script:
        assert script.headers["Content-Type"].startswith("text/javascript")
    for missing in ("/console/nothing.js", "/console/..%2Fconsole.py", "/console/rules.py"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url + missing, timeout=5, context=server.tls)
        assert refused.value.code == 404


# --- a clinic's morning ----------------------------------------------------------------


def test_a_full_clinic_morning(page: Page, server: LiveServer, tmp_path: Path) -> None:
    # Opened: the page reaches the broker, no device yet.
    expect(indicator(page, "page")).to_contain_text("已連接")
    expect(indicator(page, "reader")).to_contain_text("未連接")
    expect(indicator(page, "sam")).to_have_text(re.compile(r"無安全模組\s*0"))
    shoot(page, "01-opened")

    # 共用函式: connect COM1 (its physical SAM, the doctor card and 陳美玲's card).
    initial = block(page, "common", "初始化裝置")
    expect(initial.locator("#device option").first).to_have_text("不指定")
    initial.locator("#device option[value='COM1']").wait_for(state="attached")
    initial.locator("#device").select_option("COM1")
    press(initial, "連接裝置")
    expect(indicator(page, "reader")).to_contain_text("已連接", timeout=LIVE)
    expect(indicator(page, "sam")).to_have_text(re.compile(r"實體安全模組\s*1"), timeout=LIVE)
    expect(indicator(page, "hca")).to_have_text(re.compile(r"醫師卡\s*1"), timeout=LIVE)
    expect(indicator(page, "hc")).to_have_text(re.compile(r"實體健保卡\s*1"), timeout=LIVE)
    expect(page.locator("#st-device")).to_have_text("COM1")
    expect(page.locator("#st-sam-kind")).to_have_text("實體安全模組：")
    expect(page.locator("#st-sam")).to_have_text("已置入 (1)")
    version = block(page, "common", "版本編號")
    press(version, "取得版本編號")
    expect(field(version, "長版本編號")).to_have_text("6000")
    expect(field(version, "短版本編號")).to_have_text("60")
    shoot(page, "02-common-connected")

    # 安全模組: a physical SAM is verified by hand.
    go(page, "sam")
    press(block(page, "sam", "驗證及登出"), "驗證安全模組")
    expect(indicator(page, "sam")).to_have_text(re.compile(r"實體安全模組\s*2"), timeout=LIVE)
    expect(page.locator("#st-sam")).to_have_text("已驗證 (2)")
    basic = block(page, "sam", "基本資料")
    press(basic, "讀取基本資料")
    expect(field(basic, "安全模組編號")).to_have_text("900000000101")
    expect(field(basic, "醫事機構代碼")).to_have_text("7777777777")
    expect(field(basic, "醫事機構名稱")).to_have_text("")
    sam_sign = block(page, "sam", "安全模組簽章")
    expect(sam_sign.locator("input[name='serviceType']")).to_have_value("01")
    press(sam_sign, "簽章")
    assert signature(sam_sign)["serviceType"] == "01"
    shoot(page, "03-sam")

    # 醫事人員: the doctor card's PIN.
    go(page, "hca")
    pin_block = block(page, "hca", "醫事人員卡驗證 PIN 碼")
    pin = pin_block.locator("input[name='pin']")
    expect(pin).to_have_attribute("type", "password")
    expect(pin).to_have_attribute("autocomplete", "off")
    pin.fill("000000")  # on the dedicated reader this field is never sent to the card
    pin_block.get_by_role("button", name="驗證 PIN 碼", exact=True).click()
    pad = page.locator("#st-pin-pad")
    expect(pad).to_have_text("請在讀卡機的 PIN 鍵盤上輸入 PIN 碼", timeout=LIVE)
    shoot(page, "04-hca-pin-pad-waiting")
    # The doctor types the PIN on the reader (the emulated pad, through the sim API).
    assert api(server, "POST", "/api/sim/v1/PinPad", {"reader": "COM1", "pin": "222222"}) == {
        "statusCode": 0,
        "message": "成功",
    }
    expect(pin_block.locator("[data-result]")).to_have_attribute("data-code", "0000")
    expect(pad).to_be_hidden(timeout=LIVE)
    expect(pin).to_have_value("")
    expect(indicator(page, "hca")).to_have_text(re.compile(r"醫師卡\s*3"), timeout=LIVE)
    hca_basic = block(page, "hca", "基本資料")
    press(hca_basic, "讀取基本資料")
    expect(field(hca_basic, "卡片編號")).to_have_text("100000291539")
    expect(field(hca_basic, "中文姓名")).to_have_text("測試醫師7")
    shoot(page, "04-hca")

    # 健保卡: 陳美玲's card, her signature, the three-card signature.
    go(page, "hc")
    hc_basic = block(page, "hc", "基本資料")
    press(hc_basic, "讀取基本資料")
    expect(field(hc_basic, "卡片編號")).to_have_text("900000000735")
    expect(field(hc_basic, "身分證號")).to_have_text("B223456780")
    expect(field(hc_basic, "姓名")).to_have_text("陳美玲")
    expect(field(hc_basic, "生日")).to_have_text("0451111")
    expect(field(hc_basic, "性別")).to_have_text("女性 (F)")
    expect(field(hc_basic, "身分註記")).to_have_text("福民 (1)")
    expect(field(hc_basic, "發卡日期")).to_have_text("0990720")
    expect(indicator(page, "hc")).to_have_text(re.compile(r"實體健保卡\s*2"), timeout=LIVE)
    sign = block(page, "hc", "簽章")
    press(sign, "簽章")
    hc_signature = signature(sign)
    assert hc_signature["hcId"] == "900000000735"
    assert hc_signature["samId"] == "900000000101"
    assert hc_signature["signature"]
    press(sign, "三卡簽章")
    three = signature(sign)
    assert three["hpcId"] == "100000291539"
    assert three["hcId"] == "900000000735"
    expect(indicator(page, "hc")).to_have_text(re.compile(r"實體健保卡\s*3"), timeout=LIVE)
    expect(page.locator("#st-hc")).to_have_text("與醫事人員卡已驗證 (3)")
    hc_pin = block(page, "hc", "PIN")
    press(hc_pin, "重新整理")
    expect(hc_pin.locator("[data-field='hasPin']")).to_have_text("否")
    shoot(page, "05-hc", full_page=True)

    # 設定 → 雲端安全模組: remove 901000000047, then import its file again.
    settings = go(page, "settings")
    row = settings.locator(f"#cloud-rows tr[data-sam-id='{CLOUD_SAM}']")
    expect(row).to_contain_text("測試機構")
    row.get_by_role("button", name=f"移除 {CLOUD_SAM}").click()
    confirm = page.locator("#dlg-confirm")
    expect(confirm).to_be_visible()
    confirm.get_by_role("button", name="移除").click()
    expect(row).to_have_count(0)
    expect(page.locator("#cloud-sams [data-result]")).to_have_attribute("data-code", "0000")
    name, content = kit_cloud_sam(CLOUD_SAM)
    assert name == SAM_FILE
    sam_file = tmp_path / SAM_FILE
    sam_file.write_bytes(content)
    more(page, "#cloud-sams", "匯入")
    dialog = page.locator("#dlg-import")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="瀏覽")).to_be_visible()
    expect(dialog).to_contain_text("「醫事機構代碼 10 碼」加上「安全模組代碼 12 碼」")
    shoot(page, "06-settings-import-dialog")
    dialog.locator("input[type='file']").set_input_files(str(sam_file))
    expect(dialog).to_be_hidden()
    expect(row).to_contain_text("7777777777")
    expect(page.locator("#cloud-sams [data-result]")).to_have_attribute("data-code", "0000")

    # 設定 → PCSC 讀卡機: Virtual Reader 4.
    more(page, "#pcsc", "設定")
    pcsc = page.locator("#dlg-pcsc")
    expect(pcsc).to_be_visible()
    expect(pcsc.locator("#pcsc-readers option").first).to_have_text("不使用")
    pcsc.locator("#pcsc-readers option[value='Virtual Reader 4']").wait_for(state="attached")
    pcsc.locator("#pcsc-readers").select_option("Virtual Reader 4")
    shoot(page, "07-settings-pcsc-dialog")
    pcsc.get_by_role("button", name="設定", exact=True).click()
    expect(pcsc).to_be_hidden()
    expect(page.locator("#pcsc-default")).to_have_text("Virtual Reader 4")
    expect(page.locator("#pcsc [data-result]")).to_have_attribute("data-code", "0000")

    # 設定 → CORS: add www.nhi.gov.tw and remove it.
    more(page, "#cors", "新增")
    cors = page.locator("#dlg-cors")
    expect(cors).to_be_visible()
    expect(cors).to_contain_text("僅需輸入主機名稱，例如 www.nhi.gov.tw")
    cors.get_by_label("網站主機名稱").fill("www.nhi.gov.tw")
    shoot(page, "08-settings-cors-dialog")
    cors.get_by_role("button", name="新增", exact=True).click()
    expect(cors).to_be_hidden()
    host = page.locator("#cors-rows tr[data-host='www.nhi.gov.tw']")
    expect(host).to_have_count(1)
    shoot(page, "09-settings", full_page=True)
    host.get_by_role("button", name="移除 www.nhi.gov.tw").click()
    page.locator("#dlg-confirm").get_by_role("button", name="移除").click()
    expect(host).to_have_count(0)
    expect(page.locator("#cors [data-result]")).to_have_attribute("data-code", "0000")

    # API 呼叫記錄: the morning's calls, newest first; then 清除.
    expect(log_rows(page).first).to_contain_text("/api/settings/v1/Cors/Get")
    expect(page.locator("#log-rows")).to_contain_text("/api/hc/v1/Signature/HpcHc")
    expect(page.locator("#log-rows")).to_contain_text("/api/hpc/v1/Verification/Hpc")
    more(page, "#log", "清除")
    expect(log_rows(page)).to_have_count(0)
    assert api(server, "GET", "/api/common/v1/Log")["log"] == []

    # Nothing secret was kept anywhere.
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert "222222" not in page.url


def test_a_virtual_health_card_read_verified_exported_and_imported(
    page: Page, server: LiveServer
) -> None:
    # A cloud SAM verifies itself; no physical card in the default reader.
    assert api(server, "POST", "/api/common/v1/Initial", {"name": CLOUD_SAM})["statusCode"] == 0
    assert (
        api(server, "POST", "/api/sim/v1/Remove", {"reader": "Virtual Reader 0"})["statusCode"] == 0
    )
    token = api(server, "POST", "/api/sim/v1/VirtualHc/Token", {"card": "900000000711"})["token"]
    expect(indicator(page, "sam")).to_have_text(re.compile(r"雲端安全模組\s*[12]"), timeout=LIVE)
    go(page, "hc")
    read = block(page, "hc", "讀取虛擬健保卡基本資料")
    read.locator("textarea[name='token']").fill(token)
    press(read, "讀取基本資料")
    expect(field(read, "姓名")).to_have_text("吳佳蓉")
    expect(field(read, "性別")).to_have_text("女性 (F)")
    expect(field(read, "身分註記")).to_have_text("中低收入 (4)")
    expect(indicator(page, "hc")).to_have_text(re.compile(r"無健保卡\s*0"))
    verify = block(page, "hc", "驗證虛擬健保卡")
    verify.locator("textarea[name='token']").fill(token)
    press(verify, "驗證虛擬健保卡")
    expect(indicator(page, "hc")).to_have_text(re.compile(r"虛擬健保卡\s*2"), timeout=LIVE)
    basic = block(page, "hc", "基本資料")
    press(basic, "讀取基本資料")
    expect(field(basic, "卡片編號")).to_have_text("900000000711")
    expect(field(basic, "發卡日期")).to_have_text("")
    press(block(page, "hc", "PIN"), "重新整理", "1526")
    transfer = block(page, "hc", "轉移虛擬健保卡")
    press(transfer, "匯出")
    code = transfer.locator("textarea[name='transferCode']")
    expect(code).not_to_have_value("")
    expect(indicator(page, "hc")).to_have_text(re.compile(r"無健保卡\s*0"), timeout=LIVE)
    shoot(page, "16-hc-virtual-exported", full_page=True)
    press(transfer, "匯入")
    expect(indicator(page, "hc")).to_have_text(re.compile(r"虛擬健保卡\s*2"), timeout=LIVE)
    press(verify, "登出")
    expect(indicator(page, "hc")).to_have_text(re.compile(r"無健保卡\s*0"), timeout=LIVE)


def test_a_failed_call_shows_its_code_and_the_manuals_message(page: Page) -> None:
    go(page, "sam")
    verify = block(page, "sam", "驗證及登出")
    press(verify, "驗證安全模組", "1000")
    expect(verify.locator("[data-result]")).to_contain_text("控制軟體尚未初始化")
    expect(log_rows(page).first).to_contain_text("1000")


def test_the_console_forgets_a_patient_whose_card_is_pulled_or_logged_out(
    page: Page, server: LiveServer
) -> None:
    assert api(server, "POST", "/api/common/v1/Initial", {"name": "COM1"})["statusCode"] == 0
    go(page, "sam")
    press(block(page, "sam", "驗證及登出"), "驗證安全模組")
    go(page, "hc")
    basic = block(page, "hc", "基本資料")
    sign = block(page, "hc", "簽章")
    press(basic, "讀取基本資料")
    press(sign, "簽章")
    expect(field(basic, "姓名")).to_have_text("陳美玲")
    expect(sign.locator("pre.json")).not_to_be_empty()

    # Logged out (by another program of the clinic): her data goes from the page.
    assert api(server, "DELETE", "/api/hc/v1/Logout")["statusCode"] == 0
    expect(field(basic, "姓名")).to_have_text("", timeout=LIVE)
    expect(sign.locator("pre.json")).to_be_empty()
    expect(basic.locator("[data-result]")).not_to_have_attribute("data-code", "0000")
    expect(page.locator("#st-hc")).to_have_text("已置入 (1)")  # her card is still in the reader

    # Read again, then pulled out: gone again.
    press(basic, "讀取基本資料")
    expect(field(basic, "姓名")).to_have_text("陳美玲")
    assert api(server, "POST", "/api/sim/v1/Remove", {"reader": "COM1 HC"})["statusCode"] == 0
    expect(field(basic, "姓名")).to_have_text("", timeout=LIVE)
    expect(page.locator("#st-hc")).to_have_text("無 (0)")


def test_a_refusal_shows_what_to_do_beside_the_manuals_message(
    page: Page, server: LiveServer
) -> None:
    assert api(server, "POST", "/api/common/v1/Initial", {"name": "COM1"})["statusCode"] == 0
    go(page, "hc")
    basic = block(page, "hc", "基本資料")
    press(basic, "讀取基本資料", "1301")  # a physical SAM is never verified by itself
    expect(basic.locator("[data-result] .detail")).to_contain_text("請先驗證安全模組")


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
    # Requests to a stopped server fail; the browser says so in its console.
    errors.allow(
        r"net::ERR_(CONNECTION_REFUSED|INCOMPLETE_CHUNKED_ENCODING|EMPTY_RESPONSE|CONNECTION_RESET)"
    )
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
    # The stream comes back too: a card pulled now shows without polling.
    api(server, "POST", "/api/sim/v1/Remove", {"reader": "COM1 HC"})
    expect(indicator(page, "hc")).to_have_text(re.compile(r"無健保卡\s*0"), timeout=LIVE)


def test_without_the_event_stream_the_header_polls_the_status(
    services: ApiServices, open_page: PageFactory, errors: BrowserErrors
) -> None:
    errors.allow(r"/api/events/v1")  # every stream refused: 503
    services.max_streams = 0
    polled = LiveServer(broker_app(services), services)
    try:
        page = open_page(f"{polled.url}/console")
        expect(indicator(page, "page")).to_contain_text("已連接")
        assert api(polled, "POST", "/api/common/v1/Initial", {"name": "COM1"})["statusCode"] == 0
        expect(indicator(page, "hc")).to_have_text(re.compile(r"實體健保卡\s*1"), timeout=2000)
        api(polled, "POST", "/api/sim/v1/Remove", {"reader": "COM1 HC"})
        expect(indicator(page, "hc")).to_have_text(re.compile(r"無健保卡\s*0"), timeout=2000)
        page.close()
    finally:
        polled.stop()


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
