"""The kit's key material: fixed test keys and the issuer masters of its cards.

Kit-only. The RSA and EC keys are committed test keys (``keys/*.pem``, made
by ``scripts/make-kit-keys.py``) so that every process of the kit agrees.
The card-issuer master keys are fixed per environment: a SAM holds the
masters of its environment and derives each card's key from its number, the
way issuer schemes diversify keys; a card holds only its own derived key.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from broker.cards.crypto import cryptogram, derive_card_key, mac
from broker.cards.records import Environment


@cache
def _load(name: str) -> bytes:
    return resources.files("nhi_kit.emulators").joinpath("keys", f"{name}.pem").read_bytes()


def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """A committed RSA test key by name (``hpc-<id>``, ``sam-<id>``, ``pki-root`` …)."""
    key = serialization.load_pem_private_key(_load(name), password=None)
    return cast("rsa.RSAPrivateKey", key)


def ec_key(name: str) -> ec.EllipticCurvePrivateKey:
    """A committed EC test key by name (``dc-grant``, ``dc-token``)."""
    key = serialization.load_pem_private_key(_load(name), password=None)
    return cast("ec.EllipticCurvePrivateKey", key)


def has_key(name: str) -> bool:
    """Whether the kit ships a key of that name."""
    return resources.files("nhi_kit.emulators").joinpath("keys", f"{name}.pem").is_file()


def issuer_master(kind: str, environment: Environment) -> bytes:
    """The AES-128 issuer master key for ``kind`` (HC or HPC) cards of an environment."""
    label = f"nhi-broker kit issuer master {kind} {environment.value}".encode()
    return hashlib.sha256(label).digest()[:16]


__all__ = [
    "cryptogram",
    "derive_card_key",
    "ec_key",
    "has_key",
    "issuer_master",
    "mac",
    "rsa_key",
]
