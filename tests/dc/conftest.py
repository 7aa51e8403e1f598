"""A running data-centre simulator (real HTTPS, real waitress) with a clock tests can move."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.dc.client import DcClient, DcConfig
from nhi_kit.dcsim.server import DcSimulator
from nhi_kit.emulators.dc.hca import HcaTrust
from nhi_kit.emulators.dc.simulator import DataCentre


class FakeClock:
    """Epoch seconds that move only when told."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def simulator(tmp_path: Path, clock: FakeClock) -> Iterator[DcSimulator]:
    """The kit's DC, served over HTTPS on a free loopback port."""
    made = DcSimulator(DataCentre.kit(clock=clock), tmp_path / "dc", control_port=0)
    made.start()
    yield made
    made.stop()


@pytest.fixture
def client(simulator: DcSimulator) -> DcClient:
    """A client trusting the simulator's certificate, with a short deadline."""
    return DcClient(DcConfig(simulator.url, timeout=2.0, ca_file=str(simulator.cert_path)))


@pytest.fixture
def trust() -> HcaTrust:
    """The kit's trust store, fresh for each test (revocations mutate it)."""
    return HcaTrust.kit()
