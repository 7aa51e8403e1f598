"""The DC client under injected faults: outage, slowness, HTTP errors, garbage, unknown commands."""

from __future__ import annotations

import pytest

from broker.codes import Code
from broker.dc.client import DcClient, DcConfig, DcError
from nhi_kit.dcsim.server import DcSimulator


def _code_of(call: object) -> Code:
    with pytest.raises(DcError) as raised:
        call()  # type: ignore[operator]
    return raised.value.code


def test_a_dc_that_refuses_connections_fails_calls_with_1700_and_recovers(
    client: DcClient, simulator: DcSimulator
) -> None:
    simulator.set_faults(down=True)
    assert _code_of(client.server_time) is Code.DC_CONNECTION
    assert _code_of(lambda: client.sam_challenge("901000000047")) is Code.DC_CONNECTION
    simulator.set_faults(down=False)
    assert len(client.server_time()) == 13


@pytest.mark.timeout(8)  # the DC answers after 30 s: only the client's deadline ends this test
def test_a_slow_dc_fails_the_call_at_the_clients_deadline(simulator: DcSimulator) -> None:
    simulator.set_faults(latency_ms=30_000)
    impatient = DcClient(
        DcConfig(simulator.url, timeout=0.3, retries=1, ca_file=str(simulator.cert_path))
    )
    assert _code_of(impatient.server_time) is Code.DC_CONNECTION
    assert _code_of(lambda: impatient.sam_challenge("901000000047")) is Code.DC_CONNECTION


def test_http_5xx_maps_to_1702_and_only_idempotent_calls_are_retried(
    client: DcClient, simulator: DcSimulator
) -> None:
    simulator.set_faults(http5xx=True)
    before = simulator.requests
    assert _code_of(client.server_time) is Code.DC_HTTP_ERROR
    assert simulator.requests - before == 2  # GET /time: tried again once
    before = simulator.requests
    assert _code_of(lambda: client.sam_challenge("901000000047")) is Code.DC_HTTP_ERROR
    assert simulator.requests - before == 1  # never repeated: it spends a challenge


def test_a_malformed_reply_maps_to_1799(client: DcClient, simulator: DcSimulator) -> None:
    simulator.set_faults(malformed=True)
    assert _code_of(client.server_time) is Code.DC_UNDEFINED_ERROR


def test_an_unknown_command_maps_to_1701(client: DcClient) -> None:
    assert _code_of(lambda: client._call("POST", "/dc/v1/no/such", {})) is (Code.DC_UNKNOWN_COMMAND)


def test_a_dc_that_was_never_there_fails_with_1700(simulator: DcSimulator) -> None:
    simulator.set_faults(down=True)
    nowhere = DcClient(DcConfig(simulator.url, timeout=1.0, ca_file=str(simulator.cert_path)))
    assert _code_of(nowhere.server_time) is Code.DC_CONNECTION


def test_an_untrusted_dc_certificate_fails_with_1700(simulator: DcSimulator) -> None:
    strict = DcClient(DcConfig(simulator.url, timeout=1.0))  # system trust only
    assert _code_of(strict.server_time) is Code.DC_CONNECTION


def test_the_client_refuses_a_plain_http_url() -> None:
    with pytest.raises(ValueError, match="https"):
        DcClient(DcConfig("http://127.0.0.1:1"))
