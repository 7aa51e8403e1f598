"""The HTTP server under the API: a whole answer leaves in one piece."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import falcon
import pytest
from waitress.channel import HTTPChannel

from nhi_https import server as web_server
from nhi_https.server import HttpServer


class Fixed:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"statusCode": 0, "message": "成功"}

    def on_head(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"statusCode": 0}


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """What the server hands its sockets, one entry per write."""
    seen: list[bytes] = []
    original = HTTPChannel.write_soon

    def spy(channel: Any, data: Any) -> Any:
        seen.append(bytes(data))
        return original(channel, data)

    monkeypatch.setattr(web_server._Channel, "write_soon", spy)
    return seen


@pytest.fixture
def url() -> Iterator[tuple[str, int]]:
    app = falcon.App()
    app.add_route("/fixed", Fixed())
    server = HttpServer(app)
    server.start()
    yield server.address
    server.stop()


def get(address: tuple[str, int], method: str = "GET") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(*address, timeout=10)
    connection.request(method, "/fixed")
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


def test_a_json_answer_leaves_in_one_write_with_its_header(
    url: tuple[str, int], writes: list[bytes]
) -> None:
    status, body = get(url)
    assert (status, json.loads(body)) == (200, {"statusCode": 0, "message": "成功"})
    [write] = writes
    assert write.startswith(b"HTTP/1.1 200 OK\r\n")
    assert write.endswith(b"\r\n\r\n" + body)


def test_an_answer_without_a_body_still_gets_its_header(
    url: tuple[str, int], writes: list[bytes]
) -> None:
    status, body = get(url, "HEAD")
    assert (status, body) == (200, b"")
    [write] = writes
    assert write.startswith(b"HTTP/1.1 200 OK\r\n")
    assert write.endswith(b"\r\n\r\n")
