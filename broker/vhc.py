"""Virtual health card (虛擬健保卡) tokens, as the broker sees them: format only.

A token is the text of the card's QR code::

    B64(nonce) "." B64(ciphertext) "." B64(signature)

in standard base64 with padding, like the manual's sample
``OdemQijLo+sPE2OTIpHcCA==.YAQq…==.dElx…``. Its content is opaque to the
broker: only the data centre can open it. The broker checks the shape so a
mistyped or truncated scan fails at once with 1520, without a DC round trip.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from broker.codes import Code
from broker.errors import BrokerError

MAX_TOKEN_LENGTH = 4096
NONCE_LENGTH = 12  # the kit DC's AES-GCM nonce
# The broker accepts what a real token may carry too: the manual's sample starts
# with a 16-byte value. Whether the DC can open it is the DC's business.
NONCE_LENGTHS = range(NONCE_LENGTH, 17)
PART_NAMES = ("nonce", "ciphertext", "signature")


class VhcTokenError(BrokerError):
    """A virtual card token was refused (1520–1525); the detail names the fault."""

    default_code = Code.VHC_TOKEN_FORMAT


@dataclass(frozen=True)
class TokenParts:
    """A well-formed token's decoded parts; ``signed_part`` is what the signature covers."""

    nonce: bytes
    ciphertext: bytes
    signature: bytes
    signed_part: bytes


def check_token_format(token: object) -> TokenParts:
    """Split and decode a token, or raise ``VhcTokenError`` (1520) naming the fault."""
    text = _clean_text(token)
    parts = text.split(".")
    if len(parts) != len(PART_NAMES):
        raise VhcTokenError(f"token has {len(parts)} dot-separated parts, expected 3")
    nonce, ciphertext, signature = (
        _decode_part(part, name) for part, name in zip(parts, PART_NAMES, strict=True)
    )
    if len(nonce) not in NONCE_LENGTHS:
        raise VhcTokenError(f"nonce is {len(nonce)} bytes, expected 12 to 16")
    signed_part = f"{parts[0]}.{parts[1]}".encode("ascii")
    return TokenParts(nonce, ciphertext, signature, signed_part)


def _clean_text(token: object) -> str:
    """The token's text without the surrounding whitespace a QR scanner adds."""
    if not isinstance(token, str):
        raise VhcTokenError(f"token is not text but {type(token).__name__}")
    text = token.strip()
    if not text:
        raise VhcTokenError("token is empty")
    if len(text) > MAX_TOKEN_LENGTH:
        raise VhcTokenError(f"token is {len(text)} characters, at most {MAX_TOKEN_LENGTH}")
    if not text.isascii():
        raise VhcTokenError("token contains non-ASCII characters")
    if any(char.isspace() for char in text):
        raise VhcTokenError("token contains whitespace")
    return text


def _decode_part(part: str, name: str) -> bytes:
    """One part's bytes; only canonical padded base64 is accepted."""
    if not part:
        raise VhcTokenError(f"{name} part is empty")
    try:
        raw = base64.b64decode(part, validate=True)
    except binascii.Error as exc:
        raise VhcTokenError(f"{name} part is not valid base64") from exc
    # Python accepts non-zero padding bits ("AB==" is b"\0" too); one token, one spelling.
    if base64.b64encode(raw).decode("ascii") != part:
        raise VhcTokenError(f"{name} part is not canonical base64")
    return raw
