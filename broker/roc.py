"""ROC (Minguo) dates and times as the NHI cards and API write them.

A ROC year is the Gregorian year minus 1911: 2024-06-20 is ``1130620``.
"""

from __future__ import annotations

import datetime as dt

ROC_OFFSET = 1911


def _check_digits(text: str, count: int, what: str) -> None:
    if len(text) != count or not text.isascii() or not text.isdigit():
        raise ValueError(f"ROC {what} must be {count} ASCII digits, got {text!r}")
    if text[:3] == "000":
        raise ValueError("ROC year 000 does not exist")


def parse_date(text: str) -> dt.date:
    """``YYYMMDD`` → date; raises ValueError on anything else."""
    _check_digits(text, 7, "date")
    return dt.date(int(text[:3]) + ROC_OFFSET, int(text[3:5]), int(text[5:7]))


def format_date(value: dt.date) -> str:
    """date → ``YYYMMDD``."""
    year = value.year - ROC_OFFSET
    if not 1 <= year <= 999:
        raise ValueError(f"{value} is outside the ROC calendar range")
    return f"{year:03d}{value.month:02d}{value.day:02d}"


def parse_datetime(text: str) -> dt.datetime:
    """``YYYMMDDHHMMSS`` → naive datetime; raises ValueError on anything else."""
    _check_digits(text, 13, "date-time")
    day = parse_date(text[:7])
    return dt.datetime(
        day.year, day.month, day.day, int(text[7:9]), int(text[9:11]), int(text[11:13])
    )


def format_datetime(value: dt.datetime) -> str:
    """datetime → ``YYYMMDDHHMMSS``."""
    return format_date(value.date()) + f"{value.hour:02d}{value.minute:02d}{value.second:02d}"
