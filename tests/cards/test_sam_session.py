"""SamSession against the SAM emulator: identity, DC authentication, signing, lock-out."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from broker import errors
from broker.cards.records import Environment, SamIdentity
from broker.cards.sam import SamSession
from broker.transport.local import LocalSlot
from nhi_kit.emulators import dc_grant
from nhi_kit.emulators.keys import rsa_key
from nhi_kit.emulators.kit import CardKit
from tests.conftest import DcAuthenticate

PHYSICAL_TEST_SAM = "900000000101"


def _session(kit: CardKit, sam_id: str) -> SamSession:
    slot = LocalSlot("sam")
    slot.insert(kit.card(sam_id))
    session = SamSession(slot.connect())
    session.select()
    return session


def test_cloud_sam_identity_carries_the_hospital_names(kit: CardKit) -> None:
    identity = _session(kit, "001000000103").identity()
    assert identity == SamIdentity("001000000103", "3501200000", "臺北虛擬診所", "臺北虛擬診")
    assert identity.environment is Environment.FORMAL


def test_physical_sam_identity_has_no_names(kit: CardKit) -> None:
    identity = _session(kit, PHYSICAL_TEST_SAM).identity()
    assert (identity.hospital_id, identity.hospital_name, identity.hospital_short_name) == (
        "7777777777",
        None,
        None,
    )
    assert identity.environment is Environment.TEST


def test_sam_refuses_to_sign_before_dc_authentication(kit: CardKit) -> None:
    with pytest.raises(errors.SecurityStatusError):
        _session(kit, PHYSICAL_TEST_SAM).sign(b"01")


def test_authenticated_sam_signature_verifies_with_its_public_key(
    kit: CardKit, dc_authenticate: DcAuthenticate
) -> None:
    sam = _session(kit, PHYSICAL_TEST_SAM)
    dc_authenticate(sam)
    signature = sam.sign(b"serviceType=01")
    public_key = rsa_key(f"sam-{PHYSICAL_TEST_SAM}").public_key()
    public_key.verify(signature, b"serviceType=01", padding.PKCS1v15(), hashes.SHA256())


def test_sam_answer_to_the_dc_is_bound_to_both_randoms(kit: CardKit) -> None:
    sam = _session(kit, PHYSICAL_TEST_SAM)
    sam_random = sam.dc_challenge()
    dc_random = dc_grant.new_dc_random()
    signature = sam.answer_dc(dc_random)
    public_key = rsa_key(f"sam-{PHYSICAL_TEST_SAM}").public_key()
    assert dc_grant.sam_answer_is_valid(
        public_key, PHYSICAL_TEST_SAM, dc_random, sam_random, signature
    )
    assert not dc_grant.sam_answer_is_valid(
        public_key, PHYSICAL_TEST_SAM, dc_grant.new_dc_random(), sam_random, signature
    )


def test_three_forged_grants_lock_the_sam_for_good(
    kit: CardKit, dc_authenticate: DcAuthenticate
) -> None:
    sam = _session(kit, PHYSICAL_TEST_SAM)
    forger = ec.generate_private_key(ec.SECP256R1())
    for _ in range(2):
        sam_random = sam.dc_challenge()
        with pytest.raises(errors.AuthenticationFailedError):
            sam.accept_grant(dc_grant.grant(PHYSICAL_TEST_SAM, sam_random, key=forger))
    sam_random = sam.dc_challenge()
    with pytest.raises(errors.PinBlockedError):
        sam.accept_grant(dc_grant.grant(PHYSICAL_TEST_SAM, sam_random, key=forger))
    with pytest.raises(errors.PinBlockedError):
        dc_authenticate(sam)  # even the real DC cannot unlock it


def test_a_grant_for_another_challenge_is_refused(kit: CardKit) -> None:
    sam = _session(kit, PHYSICAL_TEST_SAM)
    stale = sam.dc_challenge()
    sam.dc_challenge()
    with pytest.raises(errors.AuthenticationFailedError):
        sam.accept_grant(dc_grant.grant(PHYSICAL_TEST_SAM, stale))
