"""Virtual health card tokens: the broker's format check and the DC simulator's open."""

from __future__ import annotations

import base64
import json
import math
import threading
from collections.abc import Callable
from dataclasses import asdict, replace

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.codes import Code
from broker.vhc import TokenParts, VhcTokenError, check_token_format
from nhi_kit.emulators.dc.tokens import (
    TokenKeys,
    TokenPayload,
    UseCounter,
    issue_token,
    open_token,
    payload_bytes,
    seal,
)
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


def sealed_json(content: object) -> str:
    """A correctly encrypted and signed token whose content is ``content`` as JSON."""
    return seal(json.dumps(content).encode(), KEYS)


def sample_content(**changes: object) -> dict[str, object]:
    """A good payload's fields, with some changed."""
    payload = TokenPayload(
        tid="0" * 32,
        card_id=WANG.card_id,
        id_no=WANG.id_no,
        name=WANG.name,
        birthday=WANG.birthday,
        sex=WANG.sex,
        identity_status=WANG.identity_status,
        has_pin=True,
        pin_verified=True,
        iat=int(NOW),
        exp=int(NOW) + 300,
        card_exp=int(NOW) + 86400,
        max_uses=3,
    )
    return {**asdict(payload), **changes}


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


# --- the DC opens a token ----------------------------------------------------


@pytest.mark.parametrize("person", HEALTH_CARDS, ids=lambda p: p.card_id)
def test_a_good_token_opens_and_yields_the_persons_data(person: HcPerson) -> None:
    payload = open_token(good_token(person), KEYS, NOW + 10)
    assert (payload.card_id, payload.id_no, payload.name) == (
        person.card_id,
        person.id_no,
        person.name,
    )
    assert (payload.birthday, payload.sex, payload.identity_status) == (
        person.birthday,
        person.sex,
        person.identity_status,
    )
    assert payload.has_pin == (person.pin is not None)
    assert payload.v == 1
    assert (payload.iat, payload.exp, payload.card_exp) == (
        int(NOW),
        int(NOW) + 300,
        int(NOW) + 30 * 86400,
    )
    assert payload.max_uses == 3
    assert len(payload.tid) == 32


def test_each_token_has_its_own_id_and_nonce() -> None:
    first, second = good_token(), good_token()
    assert first.split(".")[0] != second.split(".")[0]
    assert open_token(first, KEYS, NOW).tid != open_token(second, KEYS, NOW).tid


def test_pin_verified_is_only_claimed_for_a_card_that_has_a_pin() -> None:
    assert open_token(good_token(WANG), KEYS, NOW).pin_verified
    assert not open_token(issue_token(WANG, KEYS, NOW, pin_verified=False), KEYS, NOW).pin_verified
    without_pin = open_token(good_token(WU), KEYS, NOW)
    assert (without_pin.has_pin, without_pin.pin_verified) == (False, False)


def test_the_payload_is_compact_json_with_sorted_keys() -> None:
    payload = open_token(good_token(), KEYS, NOW)
    text = payload_bytes(payload).decode("utf-8")
    assert text == json.dumps(
        asdict(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert WANG.name in text


def flip(part: str, index: int = 0) -> str:
    """``part`` with one byte of its content changed, still canonical base64."""
    raw = bytearray(base64.b64decode(part))
    raw[index] ^= 0x01
    return b64(bytes(raw))


@pytest.mark.parametrize("which", [0, 1, 2], ids=["nonce", "ciphertext", "signature"])
def test_a_tampered_token_fails_its_signature_with_1523(which: int) -> None:
    parts = good_token().split(".")
    parts[which] = flip(parts[which], index=-1 if which == 2 else 0)
    assert code_of(lambda: open_token(".".join(parts), KEYS, NOW)) == Code.VHC_TOKEN_BAD_SIGNATURE


def test_a_token_signed_by_another_key_fails_with_1523() -> None:
    impostor = TokenKeys(KEYS.content_key, ec.generate_private_key(ec.SECP256R1()))
    token = issue_token(WANG, impostor, NOW)
    assert code_of(lambda: open_token(token, KEYS, NOW)) == Code.VHC_TOKEN_BAD_SIGNATURE


def test_a_signature_that_is_not_der_fails_with_1523() -> None:
    nonce, ciphertext, _ = good_token().split(".")
    token = f"{nonce}.{ciphertext}.{b64(b'not a DER signature')}"
    assert code_of(lambda: open_token(token, KEYS, NOW)) == Code.VHC_TOKEN_BAD_SIGNATURE


def test_garbage_signed_with_the_real_key_is_malformed_1522() -> None:
    token = sign_raw(bytes(12), b"random ciphertext, no GCM tag", KEYS.signing_key)
    with pytest.raises(VhcTokenError) as caught:
        open_token(token, KEYS, NOW)
    assert caught.value.code == Code.VHC_TOKEN_MALFORMED
    assert "decrypt" in caught.value.detail


def test_content_encrypted_under_another_key_is_malformed_1522() -> None:
    other = TokenKeys(bytes(32), KEYS.signing_key)
    assert (
        code_of(lambda: open_token(issue_token(WANG, other, NOW), KEYS, NOW))
        == Code.VHC_TOKEN_MALFORMED
    )


@pytest.mark.parametrize(
    ("plaintext", "fault"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        (b"[" * 1100 + b"]" * 1100, "not JSON"),  # deeper than json can recurse
        (b"[1, 2, 3]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b"{}", "missing"),
    ],
)
def test_signed_content_that_is_not_a_payload_is_malformed_1522(
    plaintext: bytes, fault: str
) -> None:
    with pytest.raises(VhcTokenError) as caught:
        open_token(seal(plaintext, KEYS), KEYS, NOW)
    assert caught.value.code == Code.VHC_TOKEN_MALFORMED
    assert fault in caught.value.detail


@pytest.mark.parametrize(
    ("changes", "fault"),
    [
        ({"v": 2}, "version"),
        ({"v": "1"}, "v is not an integer"),
        ({"iat": "1750000000"}, "iat is not an integer"),
        ({"exp": 1.5e9}, "exp is not an integer"),
        ({"max_uses": True}, "max_uses is not an integer"),
        ({"max_uses": 0}, "max_uses"),
        ({"has_pin": 1}, "has_pin is not a boolean"),
        ({"name": None}, "name is not a string"),
        ({"card_id": 900000000728}, "card_id is not a string"),
        ({"extra": "field"}, "1 unexpected"),
    ],
)
def test_mistyped_or_unknown_fields_are_malformed_1522(
    changes: dict[str, object], fault: str
) -> None:
    with pytest.raises(VhcTokenError) as caught:
        open_token(sealed_json(sample_content(**changes)), KEYS, NOW)
    assert caught.value.code == Code.VHC_TOKEN_MALFORMED
    assert fault in caught.value.detail


def test_a_missing_field_is_malformed_1522_and_named() -> None:
    content = sample_content()
    del content["birthday"]
    with pytest.raises(VhcTokenError) as caught:
        open_token(sealed_json(content), KEYS, NOW)
    assert caught.value.code == Code.VHC_TOKEN_MALFORMED
    assert "birthday" in caught.value.detail


def test_a_hand_built_payload_opens() -> None:
    assert open_token(sealed_json(sample_content()), KEYS, NOW).card_id == WANG.card_id


def test_the_qr_window_lapses_after_ttl_seconds_with_1521() -> None:
    token = good_token()
    assert open_token(token, KEYS, math.floor(NOW) + 300).card_id == WANG.card_id
    assert (
        code_of(lambda: open_token(token, KEYS, math.floor(NOW) + 300.5))
        == Code.VHC_TOKEN_TIMED_OUT
    )
    short = good_token(ttl=5)
    assert code_of(lambda: open_token(short, KEYS, NOW + 6)) == Code.VHC_TOKEN_TIMED_OUT


def test_an_expired_virtual_card_is_refused_with_1524() -> None:
    token = good_token(card_ttl=100)  # the QR window (300 s) outlives the card
    assert open_token(token, KEYS, NOW + 100).card_id == WANG.card_id
    assert code_of(lambda: open_token(token, KEYS, NOW + 101)) == Code.VHC_TOKEN_EXPIRED


def test_card_expiry_is_reported_before_the_qr_window() -> None:
    token = good_token(card_ttl=100)
    # Both lapsed: a fresh QR code would not help, so the card's expiry is the answer.
    assert code_of(lambda: open_token(token, KEYS, NOW + 1000)) == Code.VHC_TOKEN_EXPIRED


def test_the_signature_is_checked_before_the_content_and_times() -> None:
    parts = good_token(card_ttl=1).split(".")
    parts[1] = flip(parts[1])
    assert (
        code_of(lambda: open_token(".".join(parts), KEYS, NOW + 10**6))
        == Code.VHC_TOKEN_BAD_SIGNATURE
    )


def test_no_error_message_carries_key_material() -> None:
    assert "content_key" not in repr(KEYS)
    token = good_token()
    for now in (NOW + 10**7, NOW + 400):
        with pytest.raises(VhcTokenError) as caught:
            open_token(token, KEYS, now)
        assert KEYS.content_key.hex() not in str(caught.value)
        assert token.split(".")[1] not in str(caught.value)


def test_token_keys_refuse_a_wrong_size_content_key_or_another_curve() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenKeys(bytes(16), KEYS.signing_key)
    with pytest.raises(ValueError, match="P-256"):
        TokenKeys(KEYS.content_key, ec.generate_private_key(ec.SECP384R1()))


# --- counting verifications (1525) -------------------------------------------


def test_a_token_may_be_verified_max_uses_times_then_1525() -> None:
    payload = open_token(good_token(), KEYS, NOW)
    counter = UseCounter()
    for _ in range(payload.max_uses):
        counter.consume(payload)
    assert counter.uses(payload.tid) == 3
    with pytest.raises(VhcTokenError) as caught:
        counter.consume(payload)
    assert caught.value.code == Code.VHC_TOKEN_OVERUSED
    assert counter.uses(payload.tid) == 3


def test_uses_are_counted_per_token() -> None:
    once = open_token(good_token(max_uses=1), KEYS, NOW)
    other = open_token(good_token(max_uses=1), KEYS, NOW)
    counter = UseCounter()
    counter.consume(once)
    assert code_of(lambda: counter.consume(once)) == Code.VHC_TOKEN_OVERUSED
    counter.consume(other)
    assert counter.uses("unknown") == 0


def test_concurrent_verifications_never_exceed_max_uses() -> None:
    payload = replace(open_token(good_token(), KEYS, NOW), max_uses=50)
    counter = UseCounter()
    start = threading.Barrier(8)
    refused: list[int] = []

    def verify() -> None:
        start.wait()
        for _ in range(20):
            try:
                counter.consume(payload)
            except VhcTokenError:
                refused.append(1)

    threads = [threading.Thread(target=verify) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.uses(payload.tid) == 50
    assert len(refused) == 8 * 20 - 50


def test_prune_forgets_tokens_whose_window_has_passed() -> None:
    payload = open_token(good_token(), KEYS, NOW)
    counter = UseCounter()
    counter.consume(payload)
    assert counter.prune(payload.exp) == 0
    assert counter.prune(payload.exp + 1) == 1
    assert counter.uses(payload.tid) == 0


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


@settings(deadline=None)
@given(
    person=st.sampled_from(HEALTH_CARDS),
    now=st.floats(min_value=1e9, max_value=4e9),
    ttl=st.integers(min_value=1, max_value=3600),
    elapsed=st.floats(min_value=0, max_value=1),
)
def test_issue_then_open_round_trips_within_the_window(
    person: HcPerson, now: float, ttl: int, elapsed: float
) -> None:
    token = issue_token(person, KEYS, now, ttl=ttl)
    opened_at = math.floor(now) + elapsed * ttl
    payload = open_token(token, KEYS, opened_at)
    assert (payload.card_id, payload.id_no, payload.name, payload.birthday) == (
        person.card_id,
        person.id_no,
        person.name,
        person.birthday,
    )
    assert payload.exp == math.floor(now) + ttl
    assert payload_bytes(open_token(token, KEYS, opened_at)) == payload_bytes(payload)
