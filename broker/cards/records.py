"""Typed records read from cards, and their byte layouts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

from broker import roc
from broker.cards.commands import HC_PROFILE_LENGTH

BIG5 = "big5"


class Environment(Enum):
    """Formal (production) or test card; the two never mix (1003)."""

    FORMAL = "F"
    TEST = "T"

    @classmethod
    def of_sam_id(cls, sam_id: str) -> Environment:
        """The SAM id's first digit decides: 0 formal, 9 test (manual, 安全模組基本資料)."""
        if sam_id[:1] == "0":
            return cls.FORMAL
        if sam_id[:1] == "9":
            return cls.TEST
        raise ValueError(f"SAM id {sam_id!r} starts with neither 0 nor 9")


def decode_big5(raw: bytes) -> str:
    """Big5 text padded with spaces or NULs (the card pads either way)."""
    return raw.rstrip(b"\x00 ").decode(BIG5)


def encode_big5(text: str, width: int) -> bytes:
    """Big5 text padded with spaces to ``width`` bytes."""
    raw = text.encode(BIG5)
    if len(raw) > width:
        raise ValueError(f"{text!r} is longer than {width} Big5 bytes")
    return raw.ljust(width, b" ")


@dataclass(frozen=True)
class HcProfile:
    """The health card's public profile (57 bytes, layout in docs/cards.md)."""

    card_id: str
    name: str
    id_no: str
    birthday: str  # ROC YYYMMDD
    sex: str  # "M" or "F"
    issue_date: str  # ROC YYYMMDD

    @property
    def birth_date(self) -> dt.date:
        """The birthday as a Gregorian date."""
        return roc.parse_date(self.birthday)

    def encode(self) -> bytes:
        """The 57 bytes the card answers to READ."""
        return (
            self.card_id.encode("ascii").ljust(12, b" ")
            + encode_big5(self.name, 20)
            + self.id_no.encode("ascii").ljust(10, b" ")
            + self.birthday.encode("ascii")
            + self.sex.encode("ascii")
            + self.issue_date.encode("ascii")
        )

    @classmethod
    def decode(cls, raw: bytes) -> HcProfile:
        """Parse the 57-byte profile; ValueError if it is not one."""
        if len(raw) != HC_PROFILE_LENGTH:
            raise ValueError(f"profile is {len(raw)} bytes, expected {HC_PROFILE_LENGTH}")

        def ascii_field(start: int, end: int) -> str:
            return raw[start:end].decode("ascii").strip(" \x00")

        return cls(
            card_id=ascii_field(0, 12),
            name=decode_big5(raw[12:32]),
            id_no=ascii_field(32, 42),
            birthday=ascii_field(42, 49),
            sex=ascii_field(49, 50),
            issue_date=ascii_field(50, 57),
        )


@dataclass(frozen=True)
class CardInfo:
    """The public data object every card of the kit answers (GET DATA 01)."""

    kind: str  # "HC", "HPC", "DOC", "SAM"
    card_id: str
    environment: Environment


@dataclass(frozen=True)
class HpcBasicData:
    """A health-professional card's holder."""

    card_id: str
    id_no: str
    c_name: str
    e_name: str
    kind: str  # "HPC" or "DOC" (doctor card)
    environment: Environment


@dataclass(frozen=True)
class SamIdentity:
    """A SAM's identity; names are None for a physical SAM (manual, 基本資料)."""

    sam_id: str
    hospital_id: str
    hospital_name: str | None
    hospital_short_name: str | None

    @property
    def environment(self) -> Environment:
        """Formal or test, from the SAM id's first digit."""
        return Environment.of_sam_id(self.sam_id)


@dataclass(frozen=True)
class PinStatus:
    """Whether a PIN is set, verified in this session, and tries left."""

    has_pin: bool
    verified: bool
    tries_left: int
    blocked: bool
