"""設定 through the Web API: cloud SAMs, the default PC/SC reader, the CORS list."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pykka
import pytest

from api.services import ApiServices, token_hash
from broker import config
from nhi_broker.assembly import RunningBroker, assemble
from nhi_broker.webapp import broker_app
from nhi_kit import sim_control
from nhi_kit.emulators.cloud_sam_files import kit_cloud_sam
from tests.api.conftest import call

S = "/api/settings/v1"
CLOUD = "901000000047"
NHI = "https://www.nhi.gov.tw"
DESK2_TOKEN = "desk2-secret"


def _multipart(field: str, file_name: str, content: bytes) -> tuple[bytes, str]:
    boundary = "nhi-broker-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{file_name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def _upload(
    client: falcon.testing.TestClient, field: str, name: str, content: bytes
) -> dict[str, Any]:
    body, content_type = _multipart(field, name, content)
    result = client.simulate_post(
        f"{S}/CloudSam/Add", body=body, headers={"Content-Type": content_type}
    )
    assert result.status_code == 200, result.text
    answer: dict[str, Any] = result.json
    return answer


def _sam_ids(client: falcon.testing.TestClient) -> list[str]:
    return [s["samId"] for s in call(client, "GET", f"{S}/CloudSam/Get")["cloudSams"]]


# --- 雲端安全模組 -------------------------------------------------------------------


def test_cloud_sams_are_listed_with_the_manuals_columns(client: falcon.testing.TestClient) -> None:
    answer = call(client, "GET", f"{S}/CloudSam/Get")
    assert answer["statusCode"] == 0
    assert answer["cloudSams"] == [
        {
            "samId": "001000000103",
            "hospitalId": "3501200000",
            "name": "臺北虛擬診所",
            "shortName": "臺北虛擬診",
            "comport": "COM2",
        },
        {
            "samId": CLOUD,
            "hospitalId": "7777777777",
            "name": "測試機構",
            "shortName": "測試機構",
            "comport": "COM3",
        },
    ]


def test_settings_calls_are_recorded_in_the_api_log(client: falcon.testing.TestClient) -> None:
    call(client, "GET", f"{S}/CloudSam/Get")
    call(client, "POST", f"{S}/CloudSam/Remove", {"samId": "000000000000"})
    log = call(client, "GET", "/api/common/v1/Log")["log"]
    assert [(e["function"], e["result"]) for e in log[:2]] == [
        (f"{S}/CloudSam/Remove", "1611"),
        (f"{S}/CloudSam/Get", "0000"),
    ]


def test_a_cloud_sam_is_removed_and_unknown_ones_are_1611(
    client: falcon.testing.TestClient,
) -> None:
    assert call(client, "POST", f"{S}/CloudSam/Remove", {"samId": CLOUD})["statusCode"] == 0
    assert _sam_ids(client) == ["001000000103"]
    again = call(client, "POST", f"{S}/CloudSam/Remove", {"samId": CLOUD})
    assert again["statusCode"] == 1611
    assert call(client, "POST", f"{S}/CloudSam/Remove", {})["statusCode"] == 1704


def test_a_cloud_sam_is_imported_from_json_with_base64_content(
    client: falcon.testing.TestClient,
) -> None:
    call(client, "POST", f"{S}/CloudSam/Remove", {"samId": CLOUD})
    name, content = kit_cloud_sam(CLOUD)
    answer = call(
        client,
        "POST",
        f"{S}/CloudSam/Add",
        {"fileName": name, "content": base64.b64encode(content).decode()},
    )
    assert answer["statusCode"] == 0
    assert answer["samId"] == CLOUD
    assert answer["hospitalId"] == "7777777777"
    assert answer["comport"] == "COM3"
    assert _sam_ids(client) == ["001000000103", CLOUD]


def test_a_cloud_sam_is_imported_from_a_multipart_upload(
    client: falcon.testing.TestClient,
) -> None:
    call(client, "POST", f"{S}/CloudSam/Remove", {"samId": CLOUD})
    name, content = kit_cloud_sam(CLOUD)
    answer = _upload(client, "file", rf"C:\Users\clinic\Downloads\{name}", content)
    assert answer["statusCode"] == 0, answer
    assert answer["samId"] == CLOUD
    assert _sam_ids(client) == ["001000000103", CLOUD]


def test_an_imported_cloud_sam_can_be_connected(client: falcon.testing.TestClient) -> None:
    call(client, "POST", f"{S}/CloudSam/Remove", {"samId": CLOUD})
    assert call(client, "POST", "/api/common/v1/Initial", {"name": CLOUD})["statusCode"] != 0
    name, content = kit_cloud_sam(CLOUD)
    _upload(client, "file", name, content)
    assert call(client, "POST", "/api/common/v1/Initial", {"name": CLOUD})["statusCode"] == 0


@pytest.mark.parametrize(
    ("name", "change", "problem"),
    [
        ("renamed.SAM", None, "bad file name"),
        ("7777777777901000000047.SAM", b"{}", "missing field 'format'"),
        ("7777777777901000000047.SAM", b"\xff\xfe", "not UTF-8"),
        ("7777777777001000000103.SAM", None, "do not match the file name"),
        ("7777777777901000000047.SAM", "tamper", "DC signature does not verify"),
    ],
)
def test_a_bad_cloud_sam_file_is_1610_naming_the_problem(
    client: falcon.testing.TestClient, name: str, change: bytes | str | None, problem: str
) -> None:
    _, content = kit_cloud_sam(CLOUD)
    if change == "tamper":
        content = content.replace("測試機構".encode(), "別的機構".encode(), 1)
    elif isinstance(change, bytes):
        content = change
    answer = _upload(client, "file", name, content)
    assert answer["statusCode"] == 1610
    assert problem in answer["message"]


def test_an_upload_without_its_file_or_base64_is_1704(
    client: falcon.testing.TestClient,
) -> None:
    name, content = kit_cloud_sam(CLOUD)
    assert _upload(client, "other", name, content)["statusCode"] == 1704
    answer = call(client, "POST", f"{S}/CloudSam/Add", {"fileName": name, "content": "@@@"})
    assert answer["statusCode"] == 1704
    assert "content" in answer["message"]
    assert call(client, "POST", f"{S}/CloudSam/Add", {"content": "AA=="})["statusCode"] == 1704
    broken = client.simulate_post(
        f"{S}/CloudSam/Add",
        body=b"--x\r\nnot a part",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert broken.json["statusCode"] == 1704


# --- PCSC 讀卡機 ---------------------------------------------------------------------


def test_readers_are_the_single_slot_readers_only(client: falcon.testing.TestClient) -> None:
    readers = call(client, "GET", f"{S}/PcscReaderReader/Readers")["readers"]
    assert readers == [f"Virtual Reader {n}" for n in range(5)]


def test_the_default_reader_is_set_read_and_removed(client: falcon.testing.TestClient) -> None:
    path = f"{S}/PcscReaderReader"
    assert call(client, "POST", f"{path}/GetDefault")["readerName"] == "Virtual Reader 0"
    answer = call(client, "POST", f"{path}/SetDefault", {"readerName": "Virtual Reader 4"})
    assert answer == {
        "statusCode": 0,
        "message": answer["message"],
        "readerName": "Virtual Reader 4",
    }
    assert call(client, "POST", f"{path}/GetDefault")["readerName"] == "Virtual Reader 4"
    assert call(client, "POST", f"{path}/RemoveDefault")["statusCode"] == 0
    assert call(client, "POST", f"{path}/GetDefault")["readerName"] is None


def test_an_unknown_default_reader_is_1600_and_a_missing_name_1704(
    client: falcon.testing.TestClient,
) -> None:
    path = f"{S}/PcscReaderReader/SetDefault"
    for name in ("No Such Reader", "COM1 HC", "cloud SAM 901000000047"):
        answer = call(client, "POST", path, {"readerName": name})
        assert answer["statusCode"] == 1600
        assert name in answer["message"]
    assert call(client, "POST", path, {})["statusCode"] == 1704
    assert call(client, "POST", path, {"readerName": 7})["statusCode"] == 1704
    assert call(client, "POST", f"{S}/PcscReaderReader/GetDefault")["readerName"] == (
        "Virtual Reader 0"
    )


def test_auto_detect_never_takes_another_stations_reader(
    running: RunningBroker, client: falcon.testing.TestClient
) -> None:
    path = f"{S}/PcscReaderReader"
    call(client, "POST", f"{path}/RemoveDefault")
    assert call(client, "POST", f"{path}/AutoDetect")["readerName"] == "Virtual Reader 0"
    sim_control.remove(running, "Virtual Reader 0")
    sim_control.remove(running, "Virtual Reader 1")
    # Only desk2's readers hold cards: they stay desk2's.
    assert call(client, "POST", f"{path}/AutoDetect")["statusCode"] == 1601
    assert (
        call(client, "POST", f"{path}/SetDefault", {"readerName": "Virtual Reader 2"})["statusCode"]
        == 1600
    )
    sim_control.insert(running, "Virtual Reader 4", "900000000742")
    assert call(client, "POST", f"{path}/AutoDetect")["readerName"] == "Virtual Reader 4"
    assert call(client, "POST", f"{path}/GetDefault")["readerName"] == "Virtual Reader 4"


def test_auto_detect_without_a_card_anywhere_is_1601(
    running: RunningBroker, client: falcon.testing.TestClient
) -> None:
    for n in range(5):
        sim_control.remove(running, f"Virtual Reader {n}")
    answer = call(client, "POST", f"{S}/PcscReaderReader/AutoDetect")
    assert answer["statusCode"] == 1601
    assert call(client, "POST", f"{S}/PcscReaderReader/GetDefault")["readerName"] == (
        "Virtual Reader 0"
    )


# --- CORS ---------------------------------------------------------------------------


def test_a_cors_host_takes_effect_at_once_and_its_removal_too(
    client: falcon.testing.TestClient,
) -> None:
    status = "/api/common/v1/Status"
    assert client.simulate_get(status, headers={"Origin": NHI}).status_code == 403
    added = call(client, "POST", f"{S}/Cors/Add", {"host": "WWW.nhi.gov.tw"})
    assert added["host"] == "www.nhi.gov.tw"
    assert call(client, "GET", f"{S}/Cors/Get")["hosts"] == ["www.nhi.gov.tw"]
    allowed = client.simulate_get(status, headers={"Origin": NHI})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == NHI
    assert call(client, "POST", f"{S}/Cors/Remove", {"host": "www.nhi.gov.tw"})["statusCode"] == 0
    assert call(client, "GET", f"{S}/Cors/Get")["hosts"] == []
    assert client.simulate_get(status, headers={"Origin": NHI}).status_code == 403


def test_bad_or_unknown_cors_hosts_are_1704_naming_the_host(
    client: falcon.testing.TestClient,
) -> None:
    for host in ("ftp://example.com", "*.nhi.gov.tw", "a b", "https://x.tw/path"):
        answer = call(client, "POST", f"{S}/Cors/Add", {"host": host})
        assert answer["statusCode"] == 1704, host
        assert "host" in answer["message"]
    assert call(client, "POST", f"{S}/Cors/Add", {})["statusCode"] == 1704
    answer = call(client, "POST", f"{S}/Cors/Remove", {"host": "never.added.tw"})
    assert answer["statusCode"] == 1704
    assert "never.added.tw" in answer["message"]


def test_settings_paths_keep_their_methods(client: falcon.testing.TestClient) -> None:
    assert client.simulate_post(f"{S}/CloudSam/Get", json={}).status_code == 405
    assert client.simulate_get(f"{S}/Cors/Add", json={}).status_code == 405
    assert client.simulate_get(f"{S}/PcscReaderReader/SetDefault").status_code == 405


# --- who may change them, and that they last ---------------------------------------------


@pytest.fixture
def with_desk2_token(tmp_path: Path) -> Iterator[falcon.testing.TestClient]:
    """A broker whose station desk2 has a token."""
    base = config.sim_profile()
    stations = tuple(
        dataclasses.replace(s, token_sha256=token_hash(DESK2_TOKEN)) if s.name == "desk2" else s
        for s in base.stations
    )
    broker = assemble(dataclasses.replace(base, data_dir=tmp_path / "d2", stations=stations))
    yield falcon.testing.TestClient(broker_app(ApiServices(broker)), headers={"Host": "localhost"})
    broker.close()
    pykka.ActorRegistry.stop_all()


def test_only_the_local_station_changes_settings(
    with_desk2_token: falcon.testing.TestClient,
) -> None:
    desk2 = {"Authorization": f"Bearer {DESK2_TOKEN}"}
    client = with_desk2_token
    assert call(client, "GET", f"{S}/Cors/Get", headers=desk2)["hosts"] == []
    for path, body in (
        ("Cors/Add", {"host": "evil.example"}),
        ("CloudSam/Remove", {"samId": CLOUD}),
        ("PcscReaderReader/SetDefault", {"readerName": "Virtual Reader 2"}),
        ("PcscReaderReader/AutoDetect", {}),
    ):
        assert client.simulate_post(f"{S}/{path}", json=body, headers=desk2).status_code == 403
    assert call(client, "GET", f"{S}/Cors/Get")["hosts"] == []


def test_settings_survive_a_broker_restart(tmp_path: Path) -> None:
    profile = dataclasses.replace(config.sim_profile(), data_dir=tmp_path / "data")
    first = assemble(profile)
    try:
        client = falcon.testing.TestClient(
            broker_app(ApiServices(first)), headers={"Host": "localhost"}
        )
        call(client, "POST", f"{S}/Cors/Add", {"host": "www.nhi.gov.tw"})
        call(client, "POST", f"{S}/PcscReaderReader/SetDefault", {"readerName": "Virtual Reader 4"})
        call(client, "POST", f"{S}/CloudSam/Remove", {"samId": "001000000103"})
    finally:
        first.close()
        pykka.ActorRegistry.stop_all()
    second = assemble(profile)
    try:
        client = falcon.testing.TestClient(
            broker_app(ApiServices(second)), headers={"Host": "localhost"}
        )
        assert call(client, "GET", f"{S}/Cors/Get")["hosts"] == ["www.nhi.gov.tw"]
        default = call(client, "POST", f"{S}/PcscReaderReader/GetDefault")["readerName"]
        assert default == "Virtual Reader 4"
        assert _sam_ids(client) == [CLOUD]
        assert (
            client.simulate_get("/api/common/v1/Status", headers={"Origin": NHI}).status_code == 200
        )
    finally:
        second.close()
        pykka.ActorRegistry.stop_all()
