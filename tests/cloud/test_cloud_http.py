"""The cloud simulator's HTTP face: only docs/cloud-protocol.md's paths, POST, JSON, HTTP 200."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse

from nhi_kit.cloud.cloud import ENDPOINTS
from nhi_kit.cloud.codes import CloudCode
from nhi_kit.cloud.server import CloudSimulator

EVERY_PATH = sorted(ENDPOINTS)


def send(simulator: CloudSimulator, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    parsed = urllib.parse.urlsplit(simulator.url)
    context = ssl.create_default_context(cafile=str(simulator.cert_path))
    connection = http.client.HTTPSConnection(
        parsed.hostname or "", parsed.port, context=context, timeout=30
    )
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_every_path_answers_an_empty_body_with_6001_and_every_field(
    standalone: CloudSimulator,
) -> None:
    for path in EVERY_PATH:
        status, raw = send(standalone, "POST", path, b"{}")
        answer = json.loads(raw)
        assert status == 200, path
        assert answer["statusCode"] == int(CloudCode.BAD_REQUEST), (path, answer)
        assert set(ENDPOINTS[path].fields) <= set(answer), path


def test_a_body_that_is_not_json_answers_6001(standalone: CloudSimulator) -> None:
    status, raw = send(standalone, "POST", "/api/v1/SequelNumber/Next", b"{not json")
    answer = json.loads(raw)
    assert (status, answer["statusCode"], answer["isSameDay"]) == (200, 6001, False)


def test_other_paths_and_methods_are_http_errors(standalone: CloudSimulator) -> None:
    assert send(standalone, "POST", "/api/v1/No/Such", b"{}")[0] == 404
    assert send(standalone, "GET", "/api/v1/BasicData/Query", b"")[0] == 405


def test_the_simulator_listens_again_on_its_last_port(standalone: CloudSimulator) -> None:
    url = standalone.url
    standalone.stop()
    again = CloudSimulator(standalone.cloud, standalone.cert_path.parent)
    again.start()
    try:
        assert again.url == url
    finally:
        again.stop()
