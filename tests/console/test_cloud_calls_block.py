"""The sim console's block of the NHI cloud simulator's recent calls, beside the API log."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from nhi_broker.assembly import RunningBroker
from tests.cloud.conftest import Broker, CloudClient, body_of, start_cloud_sam_station
from tests.console.conftest import shoot

POLL = 5000  # ms: the block polls every two seconds


def test_a_clinic_systems_cloud_calls_show_with_their_card_and_code(
    page: Page, running: RunningBroker
) -> None:
    block = page.locator("#cloud-calls")
    expect(block).to_be_visible(timeout=POLL)
    broker = Broker(running)
    start_cloud_sam_station(broker)
    assert running.kit is not None
    assert running.kit.cloud is not None
    cloud = CloudClient(running.kit.cloud.url, running.kit.cloud.cert_path)
    body = body_of(broker.sign_hc("01"))
    cloud.post("/api/v1/BasicData/Query", body)
    cloud.post("/api/v1/BasicData/Query", body)  # a replay: refused
    cloud.close()
    rows = page.locator("#cloud-call-rows tr")
    expect(rows).to_have_count(2, timeout=POLL)
    expect(rows.nth(0)).to_contain_text("BasicData/Query")
    expect(rows.nth(0)).to_contain_text("900000000711")
    expect(rows.nth(0).locator("td.fail")).to_have_text("6105")
    expect(rows.nth(1).locator("td.ok")).to_have_text("0")
    shoot(page, "30-cloud-calls")
