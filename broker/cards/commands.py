"""The card command set, shared by the sessions (host side) and the emulators.

Only the health card's SELECT and public-profile READ are the real NHI
commands: byte for byte what the public readers send (magiclen/
tw-nhi-icc-service ``src/card/mod.rs``, and the C#, Go, Node and Python
readers that quote it). Everything else is the broker's own command set,
documented in ``docs/cards.md``: the real cards' protected commands are not
public.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

# --- real, public ------------------------------------------------------------

HC_AID = bytes.fromhex("D158000001" + "00" * 9 + "1100")
"""Health card application: ``D1 58 00 00 01``, nine ``00``, ``11 00`` (16 bytes), real."""

HC_SELECT = bytes.fromhex("00A4040010") + HC_AID
"""SELECT of the HC application, 21 bytes and no Le, as the public readers send it."""

HC_AID_SHORT = HC_AID[:15]
"""The same name without its last byte: public C# readers send it (Lc 0F, then Le 00)."""

HC_READ_PROFILE = bytes.fromhex("00CA1100020000")
"""READ of the public profile: ``00 CA 11 00 02 00 00`` → 57 bytes, real."""

HC_PROFILE_LENGTH = 57

# --- ours (docs/cards.md) ----------------------------------------------------

HPC_AID = bytes.fromhex("D1580000010000000000000000210000")
SAM_AID = bytes.fromhex("D1580000010000000000000000310000")


class Ins(IntEnum):
    """Instruction bytes (ISO 7816-4 meanings where ISO has one)."""

    SELECT = 0xA4
    READ_BINARY = 0xB0
    UPDATE_BINARY = 0xD6
    GET_DATA = 0xCA
    VERIFY = 0x20
    CHANGE_REFERENCE_DATA = 0x24
    DISABLE_VERIFICATION = 0x26
    RESET_RETRY_COUNTER = 0x2C
    GET_CHALLENGE = 0x84
    EXTERNAL_AUTHENTICATE = 0x82
    INTERNAL_AUTHENTICATE = 0x88
    PSO = 0x2A
    SAM_AUTHENTICATE_CARD = 0x8A
    SAM_CHECK_CARD = 0x8C


CLA_ISO = 0x00
CLA_PROPRIETARY = 0x80

# GET DATA (80 CA 00 P2) data objects, answered as TLV.
DO_CARD_INFO = 0x01  # public: ids, names, formal/test flag
DO_HOLDER = 0x02  # after authentication: HC identity status; HPC holder (after PIN)

PIN_REFERENCE = 0x01  # P2 of VERIFY / CHANGE / DISABLE / RESET RETRY COUNTER

# SELECT by file id (00 A4 02 0C 02 fid) then READ BINARY with offset in P1P2.
FID_CA_CERT = 0x5F01
FID_USER_CERT = 0x5F02
FID_HC_MARKS = 0x6F01

# PSO: COMPUTE DIGITAL SIGNATURE over a SHA-256 digest.
PSO_CDS_P1P2 = (0x9E, 0x9A)

# P2 of the SAM's card-authentication commands: which kind of card.
SAM_CARD_HC = 0x01
SAM_CARD_HPC = 0x02

CHALLENGE_LENGTH = 8  # cards' GET CHALLENGE for mutual authentication
SAM_CHALLENGE_LENGTH = 16  # SAM's GET CHALLENGE for DC authentication
CRYPTOGRAM_LENGTH = 8

PUK_LENGTH = 8

# Domain separation labels for the cryptograms and signatures.
LABEL_SAM_TO_CARD = b"NHI-SAM>CARD"
LABEL_CARD_TO_SAM = b"NHI-CARD>SAM"
LABEL_SAM_AUTH = b"NHI-SAM-AUTH"
LABEL_DC_GRANT = b"NHI-DC-GRANT"


class Tag(IntEnum):
    """Tags of the TLV data objects (one-byte tag, one-byte length)."""

    CARD_ID = 0x01
    HOSPITAL_ID = 0x02
    HOSPITAL_NAME = 0x03  # Big5
    HOSPITAL_SHORT_NAME = 0x04  # Big5
    ENVIRONMENT = 0x05  # b"F" formal, b"T" test
    ID_NO = 0x06
    C_NAME = 0x07  # Big5
    E_NAME = 0x08  # ASCII
    IDENTITY_STATUS = 0x09  # one ASCII digit
    CARD_KIND = 0x0A  # b"HC", b"HPC", b"DOC" (doctor card), b"SAM"


def encode_tlv(items: Sequence[tuple[int, bytes]]) -> bytes:
    """Concatenate one-byte-tag, one-byte-length TLVs."""
    out = bytearray()
    for tag, value in items:
        if len(value) > 255:
            raise ValueError(f"TLV {tag:02X} longer than 255 bytes")
        out += bytes((tag, len(value))) + value
    return bytes(out)


def decode_tlv(data: bytes) -> dict[int, bytes]:
    """Parse TLVs; raises ValueError on a truncated one."""
    items: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("truncated TLV header")
        tag, length = data[pos], data[pos + 1]
        end = pos + 2 + length
        if end > len(data):
            raise ValueError(f"TLV {tag:02X} runs past the end")
        items[tag] = data[pos + 2 : end]
        pos = end
    return items
