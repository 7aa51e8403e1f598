"""Virtual health card tokens: the broker's format check (1520), and any input is safe.

Any input, to the format check or to the DC simulator's open, raises nothing
but a token error.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.codes import Code
from broker.vhc import TokenParts, VhcTokenError, check_token_format
from nhi_kit.emulators.dc.tokens import open_token
from tests.dc.vhc_samples import KEYS, NOW, WANG, b64, code_of, good_token, sign_raw

# --- the broker's format check (1520) ----------------------------------------


def test_a_good_token_splits_into_its_decoded_parts() -> None:
    token = good_token()
    parts = check_token_format(token)
    nonce, ciphertext, signature = token.split(".")
    assert isinstance(parts, TokenParts)
    assert len(parts.nonce) == 12
    assert parts.ciphertext == base64.b64decode(ciphertext)
    assert parts.signature == base64.b64decode(signature)
    assert parts.signed_part == f"{nonce}.{ciphertext}".encode("ascii")


@pytest.mark.parametrize("around", ["\n", "\r\n", "  ", "\t"])
def test_whitespace_a_scanner_adds_around_the_token_is_ignored(around: str) -> None:
    token = good_token()
    assert check_token_format(f"{around}{token}{around}") == check_token_format(token)
    assert open_token(token + around, KEYS, NOW).card_id == WANG.card_id


NONCE12 = b64(bytes(12))
PART = b64(b"some bytes")


@pytest.mark.parametrize(
    ("token", "fault"),
    [
        (None, "not text"),
        (1234, "not text"),
        (b"bytes.are.not", "not text"),
        ("", "empty"),
        (" \n\t", "empty"),
        (f"{NONCE12}.{'A' * 4096}.{PART}", "characters"),
        (f"{NONCE12}.{PART}.{PART}é", "non-ASCII"),
        (f"{NONCE12}.{PART}．{PART}", "non-ASCII"),
        (f"{NONCE12}.{PART} .{PART}", "whitespace"),
        (f"{NONCE12}.{PART}\n.{PART}", "whitespace"),
        (f"{NONCE12}.{PART}", "2 dot-separated parts"),
        (f"{NONCE12}.{PART}.{PART}.{PART}", "4 dot-separated parts"),
        (NONCE12, "1 dot-separated parts"),
        ("..", "nonce part is empty"),
        (f"{NONCE12}..{PART}", "ciphertext part is empty"),
        (f"{NONCE12}.{PART}.", "signature part is empty"),
        (f"{NONCE12}.!!!!.{PART}", "ciphertext part is not valid base64"),
        (f"{NONCE12}.{PART}.QUI", "signature part is not valid base64"),
        (f"{NONCE12}.-_-_.{PART}", "ciphertext part is not valid base64"),
        (f"{NONCE12}.QQ==QQ==.{PART}", "ciphertext part is not valid base64"),
        (f"{NONCE12}.AB==.{PART}", "ciphertext part is not canonical"),
        (f"{b64(bytes(11))}.{PART}.{PART}", "nonce is 11 bytes"),
        (f"{b64(bytes(17))}.{PART}.{PART}", "nonce is 17 bytes"),
    ],
)
def test_malformed_tokens_are_refused_with_1520_naming_the_fault(token: object, fault: str) -> None:
    with pytest.raises(VhcTokenError) as caught:
        check_token_format(token)
    assert caught.value.code == Code.VHC_TOKEN_FORMAT
    assert fault in caught.value.detail
    assert code_of(lambda: open_token(token, KEYS, NOW)) == Code.VHC_TOKEN_FORMAT  # type: ignore[arg-type]


def test_a_token_shaped_like_the_manuals_sample_passes_the_format_check() -> None:
    sample = f"OdemQijLo+sPE2OTIpHcCA==.{PART}.{PART}"  # a 16-byte first part
    assert len(check_token_format(sample).nonce) == 16
    assert code_of(lambda: open_token(sample, KEYS, NOW)) == Code.VHC_TOKEN_BAD_SIGNATURE


def test_the_length_limit_applies_after_stripping_surrounding_whitespace() -> None:
    # Three padded base64 parts and two dots are 4k + 2 long: 4094 is the longest token.
    filler = "A" * (4094 - len(NONCE12) - len(PART) - 2)
    token = f"{NONCE12}.{filler}.{PART}"
    assert len(token) == 4094
    assert check_token_format(f"{token}\r\n\n").signed_part == f"{NONCE12}.{filler}".encode()


def test_a_format_error_never_echoes_the_token() -> None:
    token = good_token()
    for bad in (token + ".x", token.replace(".", " .", 1), token + "é"):
        with pytest.raises(VhcTokenError) as caught:
            check_token_format(bad)
        for part in token.split("."):
            assert part not in str(caught.value)


# --- properties --------------------------------------------------------------

ANY_INPUT = st.one_of(st.text(), st.binary(), st.integers(), st.none(), st.lists(st.text()))
BASE64ISH = st.text(alphabet="ABCDQUab01+/=.-_ \n\té", max_size=80)
NONCES = st.one_of(st.binary(min_size=12, max_size=12), st.binary(max_size=40))


@st.composite
def near_miss_tokens(draw: st.DrawFn) -> str:
    """Three base64 parts of random bytes, sometimes signed with the real key."""
    nonce, ciphertext = draw(NONCES), draw(st.binary(max_size=300))
    if draw(st.booleans()):
        return sign_raw(nonce, ciphertext, KEYS.signing_key)
    return f"{b64(nonce)}.{b64(ciphertext)}.{b64(draw(st.binary(max_size=80)))}"


def only_token_errors(token: object) -> None:
    """Both checks either pass or raise a VhcTokenError with a code they may give."""
    codes: list[Code] = []
    for check in (
        lambda: check_token_format(token),
        lambda: open_token(token, KEYS, NOW),  # type: ignore[arg-type]
    ):
        try:
            check()
        except VhcTokenError as exc:
            codes.append(exc.code)
    assert set(codes) <= {
        Code.VHC_TOKEN_FORMAT,
        Code.VHC_TOKEN_BAD_SIGNATURE,
        Code.VHC_TOKEN_MALFORMED,
    }


@given(ANY_INPUT)
def test_any_input_raises_nothing_but_token_errors(token: object) -> None:
    only_token_errors(token)


@given(BASE64ISH)
def test_base64_like_text_raises_nothing_but_token_errors(token: str) -> None:
    only_token_errors(token)


@settings(deadline=None)
@given(near_miss_tokens())
def test_near_miss_tokens_raise_nothing_but_token_errors(token: str) -> None:
    only_token_errors(token)
