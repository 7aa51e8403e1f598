"""The kit HPCs the HCA tests check, their certificates as DER, the moment checked, a refusal.

Plain helpers shared by the HCA certificate, card-signature and mobile-assertion tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from nhi_kit.emulators.dc.hca import HcaError, kit_certificate
from nhi_kit.emulators.people import HPCS, HpcPerson

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
PEOPLE = {p.card_id: p for p in HPCS}
TESTER = PEOPLE["100000291508"]  # the manual's HPC
EXPIRED = PEOPLE["100000291546"]
UNTRUSTED = PEOPLE["100000291553"]
REVOKED = PEOPLE["100000291560"]
VALID = [p for p in HPCS if p.certificate == "valid"]


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def cert_der(person: HpcPerson) -> bytes:
    return der(kit_certificate(person))


def refusal(action: Callable[[], object]) -> HcaError:
    with pytest.raises(HcaError) as caught:
        action()
    return caught.value
