"""The same card conversations through every transport: in-process, PC/SC (real pcscd), serial.

The SAM sits in-process (a cloud SAM); the HC or HPC goes through the
transport under test, as it does on a clinic's reader host.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from broker import errors
from broker.cards.hc import HealthCardSession
from broker.cards.hpc import HpcSession
from broker.cards.records import HcProfile
from broker.cards.sam import SamSession
from broker.codes import Code
from nhi_kit.emulators.hpc import HpcEmulator
from nhi_kit.emulators.kit import CardKit
from nhi_kit.emulators.pki import root_certificate
from tests.cards.rigs import Rig

MANUAL_PATIENT = "900000000711"
MANUAL_HPC = "100000291508"


def _hc(rig: Rig, kit: CardKit, card_id: str = MANUAL_PATIENT) -> HealthCardSession:
    rig.insert(kit.card(card_id))
    session = HealthCardSession(rig.slot.connect())
    session.select()
    return session


def _hpc(rig: Rig, kit: CardKit, sam: SamSession, card_id: str = MANUAL_HPC) -> HpcSession:
    rig.insert(kit.card(card_id))
    session = HpcSession(rig.slot.connect())
    session.select()
    session.authenticate(sam)
    return session


def test_manual_patient_profile_is_read_with_the_real_commands(rig: Rig, kit: CardKit) -> None:
    profile = _hc(rig, kit).read_profile()
    assert profile == HcProfile("900000000711", "吳佳蓉", "R88855084A", "0741201", "F", "1050315")


def test_health_card_authenticates_with_the_sam_and_reveals_identity_status(
    rig: Rig, kit: CardKit, test_sam: SamSession
) -> None:
    hc = _hc(rig, kit)
    with pytest.raises(errors.SecurityStatusError):
        hc.identity_status()
    hc.authenticate(test_sam)
    assert hc.identity_status() == "4"


def test_formal_sam_refuses_a_test_card_with_1003(
    rig: Rig, kit: CardKit, formal_sam: SamSession
) -> None:
    with pytest.raises(errors.FormalTestMixError) as raised:
        _hc(rig, kit).authenticate(formal_sam)
    assert raised.value.code is Code.FORMAL_TEST_MIXED


def test_health_card_pin_is_set_verified_and_cleared(
    rig: Rig, kit: CardKit, test_sam: SamSession
) -> None:
    hc = _hc(rig, kit)
    hc.authenticate(test_sam)
    assert not hc.pin_status().has_pin
    hc.set_pin("135790")
    rig.remove()
    hc = _hc(rig, kit)
    hc.authenticate(test_sam)
    status = hc.pin_status()
    assert (status.has_pin, status.verified) == (True, False)
    with pytest.raises(errors.SecurityStatusError) as not_verified:
        hc.clear_pin()
    assert not_verified.value.code is Code.HC_PIN_NOT_VERIFIED
    with pytest.raises(errors.WrongPinError) as wrong:
        hc.verify_pin("000000")
    assert (wrong.value.code, wrong.value.tries_left) == (Code.HC_PIN_FAILED, 2)
    hc.verify_pin("135790")
    assert hc.pin_status().verified
    hc.clear_pin()
    assert not hc.pin_status().has_pin


def test_health_card_marks_are_written_and_kept(
    rig: Rig, kit: CardKit, test_sam: SamSession
) -> None:
    hc = _hc(rig, kit)
    hc.authenticate(test_sam)
    hc.update_marks(b"\x01\x02\x03", offset=4)
    assert hc.read_marks()[:8] == bytes(4) + b"\x01\x02\x03\x00"


def test_hpc_pin_blocks_after_three_wrong_tries_and_puk_unblocks(
    rig: Rig, kit: CardKit, test_sam: SamSession
) -> None:
    hpc = _hpc(rig, kit, test_sam)
    assert hpc.pin_tries_left() == 3
    for tries_left in (2, 1):
        with pytest.raises(errors.WrongPinError) as wrong:
            hpc.verify_pin("111111")
        assert (wrong.value.tries_left, wrong.value.code) == (tries_left, Code.HPC_PIN_FAILED)
    with pytest.raises(errors.PinBlockedError):
        hpc.verify_pin("111111")
    with pytest.raises(errors.PinBlockedError):
        hpc.verify_pin("000000")  # even the right PIN: the card is locked
    with pytest.raises(errors.WrongPinError) as wrong_puk:
        hpc.unblock("12345678", "246810")
    assert wrong_puk.value.tries_left == 9
    hpc.unblock("99999999", "246810")
    hpc.verify_pin("246810")
    assert hpc.basic_data().c_name == "測試人員4"


def test_blocked_card_stays_blocked_after_reinsertion(
    rig: Rig, kit: CardKit, test_sam: SamSession
) -> None:
    hpc = _hpc(rig, kit, test_sam, card_id="100000291522")
    assert hpc.pin_tries_left() == 0
    rig.remove()
    hpc = _hpc(rig, kit, test_sam, card_id="100000291522")
    with pytest.raises(errors.PinBlockedError):
        hpc.verify_pin("111111")


def test_hpc_signature_verifies_with_its_certificate_chain(
    rig: Rig, kit: CardKit, test_sam: SamSession
) -> None:
    hpc = _hpc(rig, kit, test_sam)
    hca, user = hpc.certificates()
    hpc.verify_pin("000000")
    signature = hpc.sign(b"prescription 01")
    key = user.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, b"prescription 01", padding.PKCS1v15(), hashes.SHA256())
    assert user.issuer == hca.subject
    hca.verify_directly_issued_by(root_certificate())
    user.verify_directly_issued_by(hca)
    card = kit.card(MANUAL_HPC)
    assert isinstance(card, HpcEmulator)
    assert user == card.certificate
    assert isinstance(user, x509.Certificate)


def test_hpc_refuses_to_sign_before_its_pin_is_verified(
    rig: Rig, kit: CardKit, test_sam: SamSession
) -> None:
    with pytest.raises(errors.SecurityStatusError):
        _hpc(rig, kit, test_sam).sign(b"x")


def test_an_hpc_answers_the_health_card_read_with_6a86(rig: Rig, kit: CardKit) -> None:
    rig.insert(kit.card(MANUAL_HPC))
    session = HealthCardSession(rig.slot.connect())
    with pytest.raises(errors.BrokerError) as raised:
        session.read_profile()
    assert raised.value.code is Code.HC_MODE1_FAILED
    assert isinstance(raised.value.__cause__, errors.ApduError)
    assert raised.value.__cause__.sw == 0x6A86


def test_card_pulled_mid_conversation_raises_no_card_and_reinsertion_works(
    rig: Rig, kit: CardKit, test_sam: SamSession
) -> None:
    hpc = _hpc(rig, kit, test_sam)
    hpc.verify_pin("000000")
    rig.remove()
    with pytest.raises(errors.CardAbsentError) as raised:
        hpc.sign(b"too late")
    assert raised.value.code is Code.NO_CARD
    hpc = _hpc(rig, kit, test_sam)
    with pytest.raises(errors.SecurityStatusError):
        hpc.sign(b"a new card session forgets the PIN")
    hpc.verify_pin("000000")
    assert len(hpc.sign(b"works again")) == 256


def test_card_pulled_while_it_is_answering_raises_no_card(rig: Rig, kit: CardKit) -> None:
    card = kit.card(MANUAL_PATIENT)
    rig.insert(card)
    session = HealthCardSession(rig.slot.connect())

    def pull_during_read(_card: object, command: object) -> None:
        card.hooks.clear()
        rig.pull_from_card_thread()

    card.hooks.append(pull_during_read)
    with pytest.raises(errors.CardAbsentError):
        session.read_profile()
    rig.wait_removed()
    assert _hc(rig, kit).read_profile().card_id == MANUAL_PATIENT


def test_conversations_work_with_a_card_answering_like_t0(
    rig: Rig, kit: CardKit, test_sam: SamSession
) -> None:
    card = kit.card(MANUAL_HPC)
    card.t0_chunks = True
    card.strict_le = True
    hpc = _hpc(rig, kit, test_sam)
    _hca, user = hpc.certificates()
    hpc.verify_pin("000000")
    signature = hpc.sign(b"t0")
    key = user.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, b"t0", padding.PKCS1v15(), hashes.SHA256())
    patient = kit.card(MANUAL_PATIENT)
    patient.t0_chunks = True
    rig.remove()
    assert _hc(rig, kit).read_profile().name == "吳佳蓉"
