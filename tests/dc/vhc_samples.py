"""Sample virtual health card tokens: the kit's keys, a fixed now, two people, token makers."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from broker.codes import Code
from broker.vhc import VhcTokenError
from nhi_kit.emulators.dc.tokens import TokenKeys, issue_token
from nhi_kit.emulators.people import HEALTH_CARDS, HcPerson

KEYS = TokenKeys.kit()
NOW = 1_750_000_000.0
WANG = HEALTH_CARDS[1]  # has a PIN
WU = HEALTH_CARDS[0]  # the manual's HC, no PIN


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def code_of(action: Callable[[], object]) -> Code:
    with pytest.raises(VhcTokenError) as caught:
        action()
    return caught.value.code


def good_token(
    person: HcPerson = WANG, *, ttl: int = 300, card_ttl: int = 30 * 86400, max_uses: int = 3
) -> str:
    return issue_token(person, KEYS, NOW, ttl=ttl, card_ttl=card_ttl, max_uses=max_uses)


def sign_raw(nonce: bytes, ciphertext: bytes, key: ec.EllipticCurvePrivateKey) -> str:
    """A token of arbitrary parts, signed by ``key``."""
    signed_part = f"{b64(nonce)}.{b64(ciphertext)}"
    signature = key.sign(signed_part.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    return f"{signed_part}.{b64(signature)}"
