"""Which .SAM files a broker trusts: the kit's signing key only in the sim profile.

The kit's data-centre grant key has its private half in the repository, so
anyone can sign a .SAM file with it. The hardware profile trusts only the
key its configuration names (``[dc] grant_public_key``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from broker import config
from broker.cloud_sam import CloudSamFileError
from broker.codes import Code
from nhi_broker.assembly import RunningBroker, assemble
from nhi_kit.emulators.cloud_sam_files import kit_cloud_sam
from tests.hardware_dc import configured_dc, without_trust

TEST_CLOUD_SAM = "901000000047"


def hardware(tmp_path: Path, dc: config.DcSettings) -> config.BrokerConfig:
    return config.BrokerConfig(profile="hardware", data_dir=tmp_path / "data", dc=dc)


@pytest.fixture
def dc(tmp_path: Path) -> Iterator[config.DcSettings]:
    with configured_dc(tmp_path) as settings:
        yield settings


def started(settings: config.BrokerConfig) -> Iterator[RunningBroker]:
    broker = assemble(settings)
    yield broker
    broker.close()
    pykka.ActorRegistry.stop_all()


def test_the_hardware_profile_refuses_a_sam_file_signed_with_the_kits_key(
    tmp_path: Path, dc: config.DcSettings
) -> None:
    for broker in started(hardware(tmp_path, without_trust(dc))):
        with pytest.raises(CloudSamFileError) as refused:
            broker.store.import_file(*kit_cloud_sam(TEST_CLOUD_SAM))
        assert refused.value.code is Code.CLOUD_SAM_FILE_INVALID
        assert "grant_public_key" in refused.value.detail
        assert broker.store.list() == []


def test_the_hardware_profile_refuses_it_when_another_key_is_configured(
    tmp_path: Path, dc: config.DcSettings
) -> None:
    other = tmp_path / "other-dc.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    another = config.DcSettings(dc.url, ca_file=dc.ca_file, grant_public_key=str(other))
    for broker in started(hardware(tmp_path, another)):
        with pytest.raises(CloudSamFileError, match="does not verify"):
            broker.store.import_file(*kit_cloud_sam(TEST_CLOUD_SAM))


def test_the_hardware_profile_takes_a_file_signed_by_the_key_it_is_configured_with(
    tmp_path: Path, dc: config.DcSettings
) -> None:
    for broker in started(hardware(tmp_path, dc)):
        sam = broker.store.import_file(*kit_cloud_sam(TEST_CLOUD_SAM))
        assert sam.sam_id == TEST_CLOUD_SAM


def test_the_sim_profile_trusts_the_kits_key(tmp_path: Path) -> None:
    settings = config.sim_profile()
    for broker in started(
        config.BrokerConfig(profile="sim", data_dir=tmp_path / "data", sim=settings.sim)
    ):
        assert {s.sam_id for s in broker.store.list()} == set(settings.sim.cloud_sams)


def test_the_hardware_profile_needs_a_real_data_centre_address(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="https://"):
        assemble(config.BrokerConfig(profile="hardware", data_dir=tmp_path / "data"))


def test_an_unreadable_grant_key_names_the_setting(tmp_path: Path, dc: config.DcSettings) -> None:
    broken = config.DcSettings(dc.url, ca_file=dc.ca_file, grant_public_key=str(tmp_path / "no"))
    with pytest.raises(config.ConfigError, match=r"dc\.grant_public_key"):
        assemble(hardware(tmp_path, broken))
