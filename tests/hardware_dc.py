"""A data centre for hardware-profile tests: the kit's simulator on its own port, configured as a
clinic configures the NHI's (its URL, its TLS CA, the key that signs its .SAM files)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from broker import config
from nhi_kit.dcsim.server import DcSimulator
from nhi_kit.emulators.dc.simulator import DataCentre
from nhi_kit.emulators.keys import ec_key


@contextmanager
def configured_dc(directory: Path) -> Iterator[config.DcSettings]:
    """The simulator running, and the ``[dc]`` settings that point at it and trust its key."""
    simulator = DcSimulator(DataCentre.kit(), directory / "dc")
    simulator.start()
    grant = directory / "dc-grant.pem"
    grant.write_bytes(
        ec_key("dc-grant")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    try:
        yield config.DcSettings(
            simulator.url, ca_file=str(simulator.cert_path), grant_public_key=str(grant)
        )
    finally:
        simulator.stop()


def without_trust(dc: config.DcSettings) -> config.DcSettings:
    """The same data centre, with no grant key configured."""
    return dataclasses.replace(dc, grant_public_key=None)
