"""Virtual health card tokens: the DC simulator opens them.

A good token yields its person's data; a bad signature is 1523, content that is
not a payload 1522, a lapsed QR window 1521, an expired card 1524; issuing then
opening round trips for any person and time.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import asdict

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.codes import Code
from broker.vhc import VhcTokenError
from nhi_kit.emulators.dc.tokens import (
    TokenKeys,
    TokenPayload,
    issue_token,
    open_token,
    payload_bytes,
    seal,
)
from nhi_kit.emulators.people import HEALTH_CARDS, HcPerson
from tests.dc.vhc_samples import KEYS, NOW, WANG, WU, b64, code_of, good_token, sign_raw


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


# --- properties --------------------------------------------------------------


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
