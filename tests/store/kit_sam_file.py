"""The kit's cloud-SAM file, every form its secrets could leak in, and the 1610 refusal check.

Plain helpers shared by the .SAM file tests and the cloud-SAM store tests.
"""

from __future__ import annotations

import base64
import json
import traceback
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from broker.cards.records import Environment
from broker.cloud_sam import CloudSamFileError, load_cloud_sam
from broker.codes import Code
from broker.errors import BrokerError
from nhi_kit.emulators import people
from nhi_kit.emulators.cloud_sam_files import kit_cloud_sam
from nhi_kit.emulators.keys import ec_key, issuer_master, rsa_key

TRUSTED = ec_key("dc-grant").public_key()
SAM_ID = "901000000047"
NAME, CONTENT = kit_cloud_sam(SAM_ID)
KIT_CLOUD_SAMS = [sam.sam_id for sam in people.SAMS if sam.cloud]


@cache
def secret_forms(sam_id: str = SAM_ID) -> tuple[bytes, ...]:
    """Every form in which the SAM's key or its masters could leak."""
    key = rsa_key(f"sam-{sam_id}")
    none = serialization.NoEncryption()
    pkcs8 = serialization.PrivateFormat.PKCS8
    pem = key.private_bytes(serialization.Encoding.PEM, pkcs8, none)
    der = key.private_bytes(serialization.Encoding.DER, pkcs8, none)
    forms = [b"PRIVATE KEY", der, *(line for line in pem.splitlines() if b"-----" not in line)]
    for kind in ("HC", "HPC"):
        master = issuer_master(kind, Environment.of_sam_id(sam_id))
        forms += [master, master.hex().encode(), base64.b64encode(master), repr(master).encode()]
    return tuple(forms)


def assert_no_secret(text: str, sam_id: str = SAM_ID) -> None:
    """No form of the SAM's secrets appears in ``text``."""
    raw = text.encode("utf-8")
    for secret in secret_forms(sam_id):
        assert secret not in raw


def kit_obj() -> dict[str, Any]:
    """The kit SAM's file as a JSON object."""
    obj: dict[str, Any] = json.loads(CONTENT)
    return obj


def refused(name: str, content: bytes) -> CloudSamFileError:
    """The error ``load_cloud_sam`` refuses with: 1610, and no secret in any rendering."""
    with pytest.raises(CloudSamFileError) as caught:
        load_cloud_sam(name, content, TRUSTED)
    exc = caught.value
    assert isinstance(exc, BrokerError)
    assert exc.code == Code.CLOUD_SAM_FILE_INVALID
    for text in (str(exc), repr(exc), "".join(traceback.format_exception(exc))):
        assert_no_secret(text)
    return exc
