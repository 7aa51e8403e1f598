"""Bad input is refused as the manual says (1704), never answered with a 500."""

from __future__ import annotations

import falcon.testing
import pytest

from api.resources.functions import MAX_DEPTH, nested_within
from broker.codes import Code

DEEP = 1000  # a 2 KB body: json.loads recurses once per level and runs out of stack
PATHS = [
    "/api/sam/v1/Verification",  # a cshis6 function
    "/api/settings/v1/CloudSam/Remove",  # the settings
    "/api/sim/v1/Insert",  # the kit's control
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("bracket", ["[", '{"a":'])
def test_a_body_nested_a_thousand_deep_is_1704_like_any_malformed_body(
    client: falcon.testing.TestClient, path: str, bracket: str
) -> None:
    closing = "]" if bracket == "[" else "}"
    body = '{"a":' + bracket * DEEP + "1" + closing * DEEP + "}"
    answer = client.simulate_post(path, body=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.json["statusCode"] == Code.INVALID_PARAMETER
    assert "nests" in answer.json["message"]


def test_a_body_nested_within_the_limit_is_read() -> None:
    value: object = 1
    for _ in range(MAX_DEPTH - 1):
        value = [value]
    assert nested_within({"a": value}, MAX_DEPTH)
    assert not nested_within({"a": [value]}, MAX_DEPTH)
    assert nested_within({"a": 1, "b": "x"}, 1)
