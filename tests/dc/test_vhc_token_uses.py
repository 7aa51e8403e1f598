"""Virtual health card tokens: the DC simulator counts each token's verifications (1525)."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from broker.codes import Code
from broker.vhc import VhcTokenError
from nhi_kit.emulators.dc.tokens import UseCounter, open_token
from tests.dc.vhc_samples import KEYS, NOW, code_of, good_token

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
