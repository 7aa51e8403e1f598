"""The symmetric cryptography of our card command set (docs/cards.md): card keys, cryptograms.

A card's key is diversified from its issuer's master and its number; the
SAM derives it to authenticate the card. Key material never leaves these
functions' callers in a message or a log.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms

from broker.cards.commands import CRYPTOGRAM_LENGTH


def derive_card_key(master: bytes, card_id: str) -> bytes:
    """A card's own key: AES-CMAC of its number under the issuer master."""
    return mac(master, card_id.encode("ascii"))


def mac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC (16 bytes)."""
    signer = cmac.CMAC(algorithms.AES(key))
    signer.update(data)
    return signer.finalize()


def cryptogram(key: bytes, label: bytes, *parts: bytes) -> bytes:
    """An 8-byte authentication cryptogram over a label and parts."""
    return mac(key, label + b"".join(parts))[:CRYPTOGRAM_LENGTH]
