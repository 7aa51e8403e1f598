"""The console in Chromium against a real sim broker: a clinic's morning, panel by panel.

Connecting COM1, the SAM, the doctor card's PIN on the pad, the patient's card,
the settings, the call log; a virtual health card; failed and refused calls;
a patient's data leaving the page with her card.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

from nhi_kit.emulators.cloud_sam_files import kit_cloud_sam
from tests.console.conftest import LiveServer, shoot
from tests.console.pages import CLOUD_SAM, LIVE, api, block, field, go, indicator, press

SAM_FILE = f"7777777777{CLOUD_SAM}.SAM"


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
