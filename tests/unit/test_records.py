"""Card records: the HC profile layout, Big5 names, ROC dates."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker import roc
from broker.cards.records import Environment, HcProfile

# The manual's test patient, byte by byte (docs/cards.md: 12 + 20 + 10 + 7 + 1 + 7).
MANUAL_PATIENT_HEX = (
    "393030303030303030373131"  # card number
    "a764a8cebb542020202020202020202020202020"  # 吳佳蓉 in Big5, space padded
    "52383838353530383441"  # ID number
    "30373431323031"  # birthday 0741201
    "46"  # sex
    "31303530333135"  # issue date 1050315
)


def test_manual_patient_profile_decodes_from_its_57_bytes() -> None:
    raw = bytes.fromhex(MANUAL_PATIENT_HEX)
    assert len(raw) == 57
    profile = HcProfile.decode(raw)
    assert profile == HcProfile("900000000711", "吳佳蓉", "R88855084A", "0741201", "F", "1050315")
    assert profile.encode() == raw
    assert profile.birth_date == dt.date(1985, 12, 1)


def test_names_padded_with_nul_bytes_decode_too() -> None:
    raw = bytearray.fromhex(MANUAL_PATIENT_HEX)
    raw[18:32] = bytes(14)
    assert HcProfile.decode(bytes(raw)).name == "吳佳蓉"


def test_a_profile_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="56 bytes"):
        HcProfile.decode(bytes.fromhex(MANUAL_PATIENT_HEX)[:-1])


big5_names = st.text(
    alphabet=st.sampled_from("吳佳蓉王小明陳美玲林志歐陽娜張正式測試人員"), min_size=1, max_size=10
)
roc_dates = st.dates(dt.date(1912, 1, 1), dt.date(2910, 12, 31)).map(roc.format_date)


@given(
    card_id=st.from_regex(r"[0-9]{12}", fullmatch=True),
    name=big5_names,
    id_no=st.from_regex(r"[A-Z][0-9]{9}", fullmatch=True),
    birthday=roc_dates,
    sex=st.sampled_from("MF"),
    issued=roc_dates,
)
def test_profiles_round_trip_through_their_57_bytes(
    card_id: str, name: str, id_no: str, birthday: str, sex: str, issued: str
) -> None:
    profile = HcProfile(card_id, name, id_no, birthday, sex, issued)
    raw = profile.encode()
    assert len(raw) == 57
    assert HcProfile.decode(raw) == profile


def test_roc_dates_and_times_match_the_manuals_examples() -> None:
    assert roc.format_date(dt.date(2024, 6, 20)) == "1130620"
    assert roc.parse_datetime("1130620114815") == dt.datetime(2024, 6, 20, 11, 48, 15)
    assert roc.format_datetime(dt.datetime(2024, 6, 20, 11, 48, 15)) == "1130620114815"


@given(st.datetimes(dt.datetime(1912, 1, 1), dt.datetime(2910, 12, 31)))
def test_roc_datetimes_round_trip(value: dt.datetime) -> None:
    value = value.replace(microsecond=0)
    assert roc.parse_datetime(roc.format_datetime(value)) == value


@pytest.mark.parametrize("text", ["", "113062", "11306200", "113a620", "1131320"])
def test_malformed_roc_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by fault
        roc.parse_date(text)


def test_sam_id_first_digit_decides_formal_or_test() -> None:
    assert Environment.of_sam_id("001000000103") is Environment.FORMAL
    assert Environment.of_sam_id("901000000047") is Environment.TEST
    with pytest.raises(ValueError, match="neither"):
        Environment.of_sam_id("501000000047")
