"""Who may call: foreign origins are refused before anything runs; tokens pick the station."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import falcon.testing
import pykka
import pytest

from api.auth import bare_host
from api.services import ApiServices, token_hash
from broker import config
from broker.state import SamStatus
from nhi_broker.assembly import RunningBroker, assemble
from nhi_broker.serve import RunningServer
from nhi_broker.webapp import broker_app
from tests.api.conftest import call
from tests.api.https_client import HisClient

EVIL = "https://evil.example"
DESK2_TOKEN = "desk2-token-for-tests"
REMOTE = "192.0.2.10"


@pytest.fixture
def tokened(tmp_path: Path) -> Iterator[falcon.testing.TestClient]:
    """The sim broker with a token for desk2."""
    base = config.sim_profile()
    stations = tuple(
        dataclasses.replace(s, token_sha256=token_hash(DESK2_TOKEN)) if s.name == "desk2" else s
        for s in base.stations
    )
    broker = assemble(dataclasses.replace(base, data_dir=tmp_path, stations=stations))
    yield falcon.testing.TestClient(broker_app(ApiServices(broker)), headers={"Host": "localhost"})
    broker.close()
    pykka.ActorRegistry.stop_all()


def test_a_foreign_origin_can_neither_read_nor_change_anything(
    client: falcon.testing.TestClient, running: RunningBroker
) -> None:
    read = client.simulate_get("/api/common/v1/Status", headers={"Origin": EVIL})
    assert read.status_code == 403
    assert "Access-Control-Allow-Origin" not in read.headers
    change = client.simulate_post(
        "/api/common/v1/Initial", json={"name": "COM1"}, headers={"Origin": EVIL}
    )
    assert change.status_code == 403
    assert not running.board.get("local").initialized  # nothing ran
    cors = client.simulate_post(
        "/api/settings/v1/Cors/Add", json={"host": "evil.example"}, headers={"Origin": EVIL}
    )
    assert cors.status_code == 403
    assert running.settings.cors_hosts == []
    preflight = client.simulate_options(
        "/api/common/v1/Initial",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403


def test_localhost_origins_get_cors_headers_and_a_private_network_preflight(
    client: falcon.testing.TestClient,
) -> None:
    origin = "http://localhost:8080"
    answer = client.simulate_get("/api/common/v1/Status", headers={"Origin": origin})
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == origin
    assert "Origin" in answer.headers["Vary"]
    preflight = client.simulate_options(
        "/api/sam/v1/Signature",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Private-Network"] == "true"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_callers_off_this_machine_need_a_station_token(
    tokened: falcon.testing.TestClient,
) -> None:
    status = "/api/common/v1/Status"
    assert tokened.simulate_get(status, remote_addr=REMOTE).status_code == 401
    wrong = {"Authorization": "Bearer not-a-token"}
    assert tokened.simulate_get(status, remote_addr=REMOTE, headers=wrong).status_code == 401
    desk2 = {"Authorization": f"Bearer {DESK2_TOKEN}"}
    connected = tokened.simulate_post(
        "/api/common/v1/Initial", json={}, remote_addr=REMOTE, headers=desk2
    )
    assert connected.json["statusCode"] == 0
    mine = tokened.simulate_get(status, remote_addr=REMOTE, headers=desk2).json["status"]
    assert mine["deviceName"] == "901000000047"  # desk2's device
    local = tokened.simulate_get(status).json["status"]
    assert not local["initialized"]  # loopback without a token is local, untouched


def test_only_the_local_station_changes_settings(tokened: falcon.testing.TestClient) -> None:
    desk2 = {"Authorization": f"Bearer {DESK2_TOKEN}"}
    answer = tokened.simulate_post(
        "/api/settings/v1/Cors/Add",
        json={"host": "www.nhi.gov.tw"},
        remote_addr=REMOTE,
        headers=desk2,
    )
    assert answer.status_code == 403
    listed = tokened.simulate_get("/api/settings/v1/Cors/Get", remote_addr=REMOTE, headers=desk2)
    assert listed.json["hosts"] == []


def test_admin_paths_need_the_admin_token_even_on_loopback(
    client: falcon.testing.TestClient,
) -> None:
    assert client.simulate_get("/api/admin/v1/Actors").status_code == 401
    wrong = {"Authorization": "Bearer guess"}
    assert client.simulate_get("/api/admin/v1/Actors", headers=wrong).status_code == 403


def test_a_name_in_the_configuration_is_one_of_the_brokers_own(tmp_path: Path) -> None:
    base = config.sim_profile()
    named = dataclasses.replace(base, data_dir=tmp_path, names=("Reader-Host.clinic.example",))
    broker = assemble(named)
    try:
        client = falcon.testing.TestClient(broker_app(ApiServices(broker)))
        status = "/api/common/v1/Status"
        for host in ("reader-host.clinic.example", "reader-host.clinic.example:5066"):
            assert client.simulate_get(status, headers={"Host": host}).status_code == 200
        for host in ("clinic.example", "evil.example", ""):
            assert client.simulate_get(status, headers={"Host": host}).status_code == 421
    finally:
        broker.close()
        pykka.ActorRegistry.stop_all()


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:5066", "localhost"),
        ("[::1]:5066", "::1"),
        ("[::1]", "::1"),
        ("LOCALHOST.", "localhost"),
        ("192.0.2.20", "192.0.2.20"),
        ("::1", "::1"),  # a bare IPv6 address is not a name and a port
    ],
)
def test_the_host_header_is_compared_without_its_port(header: str, name: str) -> None:
    assert bare_host(header) == name


# Fetch Metadata: a page of another site makes a browser send requests without an Origin
# (an <img>, a followed link); Sec-Fetch-Site says so. Each combination below, with the
# Origin a listed one (the CORS list's his.clinic.test), one not listed, or none.
LISTED = "https://his.clinic.test"
SITES = ("cross-site", "same-site", "same-origin", "none", None)
ORIGINS = (LISTED, EVIL, None)
READ_CARD = "/api/hc/v1/BasicData"  # with a cloud SAM at 1, it first verifies the SAM


def runs(site: str | None, origin: str | None) -> bool:
    """Whether the request runs: another site's needs a listed Origin; a foreign Origin
    never runs; the broker's own pages, typed URLs and programs run as they are."""
    if origin is not None:
        return origin == LISTED
    return site not in ("cross-site", "same-site")


def fetch_headers(site: str | None, origin: str | None, **more: str) -> dict[str, str]:
    named = {"Sec-Fetch-Site": site, "Origin": origin}
    return {**{k: v for k, v in named.items() if v is not None}, **more}


@pytest.fixture
def sam_present(client: falcon.testing.TestClient, running: RunningBroker) -> None:
    """The local station on the cloud SAM, not yet verified; his.clinic.test in the CORS list."""
    listed = client.simulate_post("/api/settings/v1/Cors/Add", json={"host": "his.clinic.test"})
    assert listed.status_code == 200, listed.text
    assert call(client, "POST", "/api/common/v1/Initial")["statusCode"] == 0
    assert running.board.get("local").sam_status == SamStatus.PRESENT


@pytest.mark.usefixtures("sam_present")
@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("site", SITES)
def test_another_sites_request_runs_only_with_an_origin_in_the_cors_list(
    client: falcon.testing.TestClient, running: RunningBroker, site: str | None, origin: str | None
) -> None:
    answer = client.simulate_get(READ_CARD, headers=fetch_headers(site, origin))
    verified = running.board.get("local").sam_status == SamStatus.VERIFIED
    if runs(site, origin):
        assert (answer.status_code, answer.json["statusCode"], verified) == (200, 0, True)
    else:
        assert answer.status_code == 403
        assert answer.json["title"] == "origin not allowed"
        assert "Access-Control-Allow-Origin" not in answer.headers
        assert not verified  # refused before anything ran


def test_a_link_from_another_site_opens_the_console_but_not_an_api_call(
    client: falcon.testing.TestClient, running: RunningBroker
) -> None:
    link = fetch_headers("cross-site", None, **{"Sec-Fetch-Mode": "navigate"})
    page = {**link, "Sec-Fetch-Dest": "document"}
    assert client.simulate_get("/console", headers=page).status_code == 200
    assert client.simulate_get("/api/swagger/index.html", headers=page).status_code == 200
    assert client.simulate_get("/", headers=page).status_code in (301, 302, 303, 307, 308)
    framed = {**link, "Sec-Fetch-Dest": "iframe"}  # another site's page may not frame it
    assert client.simulate_get("/console", headers=framed).status_code == 403
    assert client.simulate_head("/console", headers=framed).status_code == 403
    # a link to a function is refused: following it would run the function
    assert client.simulate_get(READ_CARD, headers=page).status_code == 403
    assert client.simulate_post("/api/common/v1/Initial", headers=page).status_code == 403
    assert not running.board.get("local").initialized


def test_a_refused_request_of_another_site_says_why(client: falcon.testing.TestClient) -> None:
    answer = client.simulate_get(READ_CARD, headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 403
    assert answer.json == {
        "title": "origin not allowed",
        "description": "a page of another site (Sec-Fetch-Site: cross-site) made this request "
        "without naming its Origin; only origins in the CORS list (設定 → CORS) may call",
    }


def test_the_served_broker_checks_fetch_metadata_for_each_combination(
    server: RunningServer, his: HisClient
) -> None:
    """The same rules through HAProxy and waitress: each request that runs verifies the
    SAM, which is logged out again before the next."""
    assert his.call("POST", "/api/settings/v1/Cors/Add", {"host": "his.clinic.test"})
    assert his.call("POST", "/api/common/v1/Initial")["statusCode"] == 0
    board = server.broker.board
    seen: dict[tuple[str | None, str | None], tuple[int, bool]] = {}
    for site in SITES:
        for origin in ORIGINS:
            assert board.get("local").sam_status == SamStatus.PRESENT
            status, _ = his.send("GET", READ_CARD, b"", fetch_headers(site, origin))
            verified = board.get("local").sam_status == SamStatus.VERIFIED
            seen[site, origin] = (status, verified)
            if verified:
                assert his.call("DELETE", "/api/sam/v1/Logout")["statusCode"] == 0
    expected = {
        (site, origin): (200, True) if runs(site, origin) else (403, False)
        for site in SITES
        for origin in ORIGINS
    }
    assert seen == expected
