"""The DC client against the simulator over real HTTPS: every status code of the protocol."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from broker import roc
from broker.cards.hpc import HpcSession
from broker.cards.sam import SamSession
from broker.cloud_sam import load_cloud_sam
from broker.codes import Code
from broker.dc.authentication import authenticate_sam, verify_hpc_certificate
from broker.dc.client import DcClient, DcError
from broker.dc.records import DcSession
from broker.transport.local import LocalSlot
from nhi_kit.dcsim.server import DcSimulator
from nhi_kit.emulators.dc.hca import make_mobile_assertion
from nhi_kit.emulators.dc.simulator import Contract
from nhi_kit.emulators.dc.tokens import TokenKeys, issue_token, seal
from nhi_kit.emulators.keys import ec_key
from nhi_kit.emulators.kit import CardKit
from nhi_kit.emulators.people import HEALTH_CARDS, HPCS
from tests.dc.conftest import FakeClock

TEST_SAM = "901000000047"  # hospital 7777777777
FORMAL_SAM = "001000000103"  # hospital 3501200000
PATIENT = "900000000711"
DEVICE_A, DEVICE_B = "device-a", "device-b"


def _sam(kit: CardKit, sam_id: str) -> SamSession:
    slot = LocalSlot(f"SAM {sam_id}")
    slot.insert(kit.card(sam_id))
    session = SamSession(slot.connect())
    session.select()
    return session


def _code(call: Callable[[], object]) -> Code:
    with pytest.raises(DcError) as raised:
        call()
    return raised.value.code


def _control(simulator: DcSimulator, path: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        f"{simulator.control_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        result: dict[str, object] = json.load(response)
        return result


@pytest.fixture
def session(client: DcClient, kit: CardKit) -> DcSession:
    return authenticate_sam(client, _sam(kit, TEST_SAM))


# --- SAM authentication and sessions -------------------------------------------------


def test_sam_authenticates_with_real_signatures_and_can_then_sign(
    client: DcClient, kit: CardKit
) -> None:
    sam = _sam(kit, TEST_SAM)
    dc_session = authenticate_sam(client, sam)
    assert dc_session.token
    roc.parse_datetime(dc_session.server_time)
    assert len(sam.sign(b"serviceType=01")) == 256


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("expired", Code.CONTRACT_EXPIRED),
        ("suspended", Code.HOSPITAL_SUSPENDED),
        ("revoked", Code.SAM_REVOKED),
    ],
)
def test_contract_states_refuse_sam_authentication(
    client: DcClient, kit: CardKit, simulator: DcSimulator, state: str, code: Code
) -> None:
    _control(simulator, "/control/contracts", {"samId": TEST_SAM, "state": state})
    sam = _sam(kit, TEST_SAM)
    assert _code(lambda: authenticate_sam(client, sam)) is code
    _control(simulator, "/control/contracts", {"samId": TEST_SAM, "state": "valid"})
    authenticate_sam(client, sam)


def test_the_kits_expired_contract_sam_gets_1302(client: DcClient, kit: CardKit) -> None:
    assert _code(lambda: authenticate_sam(client, _sam(kit, "901000000054"))) is (
        Code.CONTRACT_EXPIRED
    )


def test_a_session_lapses_into_1703(client: DcClient, session: DcSession, clock: FakeClock) -> None:
    client.vhc_read(session.token, client.vhc_token(PATIENT))
    clock.advance(8 * 3600 + 1)
    assert _code(lambda: client.hca_challenge(session.token)) is (Code.DC_SESSION_EXPIRED)


def test_logout_ends_the_session(client: DcClient, session: DcSession) -> None:
    client.logout(session.token)
    assert _code(lambda: client.hca_challenge(session.token)) is Code.DC_SESSION_EXPIRED


def test_a_contract_suspended_during_a_session_refuses_its_next_call(
    client: DcClient, session: DcSession, simulator: DcSimulator
) -> None:
    simulator.dc.set_contract(TEST_SAM, Contract.SUSPENDED)
    assert _code(lambda: client.hca_challenge(session.token)) is Code.HOSPITAL_SUSPENDED


def test_a_forged_sam_answer_is_refused_with_1301(client: DcClient, kit: CardKit) -> None:
    sam = _sam(kit, TEST_SAM)
    dc_random = client.sam_challenge(TEST_SAM)
    sam_random = sam.dc_challenge()
    signature = bytearray(sam.answer_dc(dc_random))
    signature[0] ^= 1
    assert (
        _code(lambda: client.sam_authenticate(TEST_SAM, dc_random, sam_random, bytes(signature)))
        is Code.SAM_MODE2_FAILED
    )


def test_server_time_is_roc_taiwan_time(client: DcClient, clock: FakeClock) -> None:
    clock.now = 1718855295.0  # 2024-06-20 03:48:15 UTC = 11:48:15 in Taiwan
    assert client.server_time() == "1130620114815"


def test_issued_cloud_sam_file_loads_with_the_dc_key(client: DcClient) -> None:
    name, content = client.cloud_sam_file(TEST_SAM)
    assert name == "7777777777901000000047.SAM"
    loaded = load_cloud_sam(name, content, ec_key("dc-grant").public_key())
    assert (loaded.sam_id, loaded.hospital_name) == (TEST_SAM, "測試機構")


# --- virtual health cards ----------------------------------------------------------------


def test_virtual_card_verifies_up_to_its_limit_and_reading_spends_nothing(
    client: DcClient, session: DcSession
) -> None:
    token = client.vhc_token(PATIENT)
    for _ in range(5):
        assert client.vhc_read(session.token, token).name == "吳佳蓉"
    for _ in range(3):
        bound = client.vhc_verify(session.token, token, DEVICE_A)
        assert bound.card.id_no == "R88855084A"
    assert _code(lambda: client.vhc_verify(session.token, token, DEVICE_A)) is (
        Code.VHC_TOKEN_OVERUSED
    )


def test_a_tampered_token_fails_its_signature(client: DcClient, session: DcSession) -> None:
    nonce, ciphertext, signature = client.vhc_token(PATIENT).split(".")
    other = client.vhc_token("900000000728").split(".")[1]
    tampered = f"{nonce}.{other}.{signature}"
    assert ciphertext != other
    assert _code(lambda: client.vhc_verify(session.token, tampered, DEVICE_A)) is (
        Code.VHC_TOKEN_BAD_SIGNATURE
    )


def test_a_token_that_is_not_three_parts_gets_1520(client: DcClient, session: DcSession) -> None:
    assert _code(lambda: client.vhc_read(session.token, "not-a-token")) is Code.VHC_TOKEN_FORMAT


def test_a_token_past_its_five_minutes_gets_1521(
    client: DcClient, session: DcSession, clock: FakeClock
) -> None:
    token = client.vhc_token(PATIENT)
    clock.advance(301)
    assert _code(lambda: client.vhc_verify(session.token, token, DEVICE_A)) is (
        Code.VHC_TOKEN_TIMED_OUT
    )


def test_a_token_of_an_expired_virtual_card_gets_1524(
    client: DcClient, session: DcSession, clock: FakeClock
) -> None:
    person = next(p for p in HEALTH_CARDS if p.card_id == PATIENT)
    token = issue_token(person, TokenKeys.kit(), clock.now - 120, card_ttl=60)
    assert _code(lambda: client.vhc_verify(session.token, token, DEVICE_A)) is (
        Code.VHC_TOKEN_EXPIRED
    )


def test_a_signed_token_without_a_card_inside_gets_1522(
    client: DcClient, session: DcSession
) -> None:
    token = seal(b'{"v": 1}', TokenKeys.kit())
    assert _code(lambda: client.vhc_read(session.token, token)) is Code.VHC_TOKEN_MALFORMED


def test_virtual_card_moves_to_another_device_of_the_same_hospital(
    client: DcClient, session: DcSession, kit: CardKit
) -> None:
    bound = client.vhc_verify(session.token, client.vhc_token(PATIENT), DEVICE_A)
    code = client.vhc_export(session.token, bound.vhc_id, DEVICE_A)
    other_session = authenticate_sam(client, _sam(kit, "900000000101"))  # same hospital
    moved = client.vhc_import(other_session.token, code, DEVICE_B)
    assert moved.card == bound.card
    assert moved.vhc_id != bound.vhc_id
    assert _code(lambda: client.vhc_export(session.token, bound.vhc_id, DEVICE_A)) is (
        Code.VHC_TRANSFER_INVALID
    )
    assert _code(lambda: client.vhc_import(other_session.token, code, "device-c")) is (
        Code.VHC_TRANSFER_OTHER_DEVICE
    )
    assert _code(lambda: client.vhc_import(other_session.token, code, DEVICE_B)) is (
        Code.VHC_TRANSFER_INVALID
    )


def test_transfer_codes_unknown_foreign_or_lapsed_are_refused(
    client: DcClient, session: DcSession, kit: CardKit, clock: FakeClock
) -> None:
    assert _code(lambda: client.vhc_import(session.token, "NOSUCH00", DEVICE_B)) is (
        Code.VHC_TRANSFER_NOT_FOUND
    )
    bound = client.vhc_verify(session.token, client.vhc_token(PATIENT), DEVICE_A)
    code = client.vhc_export(session.token, bound.vhc_id, DEVICE_A)
    foreign = authenticate_sam(client, _sam(kit, FORMAL_SAM))
    assert _code(lambda: client.vhc_import(foreign.token, code, DEVICE_B)) is (
        Code.VHC_TRANSFER_OTHER_HOSPITAL
    )
    clock.advance(601)
    assert _code(lambda: client.vhc_import(session.token, code, DEVICE_B)) is (
        Code.VHC_TRANSFER_INVALID
    )


# --- HCA -----------------------------------------------------------------------------


def _hpc(kit: CardKit, sam: SamSession, card_id: str) -> HpcSession:
    slot = LocalSlot(f"HPC {card_id}")
    slot.insert(kit.card(card_id))
    hpc = HpcSession(slot.connect())
    hpc.select()
    hpc.authenticate(sam)
    pin = next(p.pin for p in HPCS if p.card_id == card_id)
    hpc.verify_pin(pin)
    return hpc


def _hpc_at_dc(client: DcClient, kit: CardKit, card_id: str) -> tuple[str, HpcSession]:
    """A DC session token of the test SAM, and the HPC ``card_id`` verified with that SAM."""
    sam = _sam(kit, TEST_SAM)
    token = authenticate_sam(client, sam).token
    return token, _hpc(kit, sam, card_id)


@pytest.mark.parametrize(
    ("card_id", "code"),
    [
        ("100000291508", Code.OK),
        ("100000291546", Code.HCA_CERT_NOT_VALID_NOW),
        ("100000291553", Code.HCA_UNTRUSTED_ISSUER),
        ("100000291560", Code.HCA_CERT_REVOKED),
    ],
)
def test_hpc_certificates_are_checked_by_the_dc(
    client: DcClient, kit: CardKit, card_id: str, code: Code
) -> None:
    token, hpc = _hpc_at_dc(client, kit, card_id)
    if code is Code.OK:
        assert verify_hpc_certificate(client, token, hpc).card_id == card_id
    else:
        assert _code(lambda: verify_hpc_certificate(client, token, hpc)) is code


def test_a_certificate_revoked_at_run_time_is_refused(
    client: DcClient, kit: CardKit, simulator: DcSimulator
) -> None:
    token, hpc = _hpc_at_dc(client, kit, "100000291515")
    serial = hpc.certificates()[1].serial_number
    _control(simulator, "/control/revocations", {"serial": serial})
    assert _code(lambda: verify_hpc_certificate(client, token, hpc)) is (Code.HCA_CERT_REVOKED)


def test_a_signature_over_something_else_gets_1420_and_a_late_one_1421(
    client: DcClient, kit: CardKit, clock: FakeClock
) -> None:
    token, hpc = _hpc_at_dc(client, kit, "100000291508")
    _, certificate = hpc.certificates()
    der = certificate.public_bytes(Encoding.DER)
    challenge = client.hca_challenge(token)
    wrong = hpc.sign(challenge + b"!")
    assert _code(lambda: client.hca_verify(token, der, challenge, wrong)) is (
        Code.HCA_BAD_SIGNATURE
    )
    late_challenge = client.hca_challenge(token)
    signature = hpc.sign(late_challenge)
    clock.advance(61)
    assert _code(lambda: client.hca_verify(token, der, late_challenge, signature)) is (
        Code.HCA_SIGNING_TIMEOUT
    )


def test_mobile_hca_is_accepted_for_its_hospital_only(
    client: DcClient, session: DcSession, kit: CardKit, clock: FakeClock
) -> None:
    person = next(p for p in HPCS if p.card_id == "100000291508")
    assertion = make_mobile_assertion(person, "7777777777", clock.now)
    assert client.hca_mobile(session.token, assertion).id_no == "E123456789"
    elsewhere = make_mobile_assertion(person, "3501200000", clock.now)
    assert _code(lambda: client.hca_mobile(session.token, elsewhere)) is (
        Code.MOBILE_HCA_HOSPITAL_MISMATCH
    )
    assert _code(lambda: client.hca_mobile(session.token, assertion[:-8] + "AAAAAAA=")) is (
        Code.MOBILE_HCA_BAD_SIGNATURE
    )


def test_marks_for_a_card_are_dated_today(
    client: DcClient, session: DcSession, clock: FakeClock
) -> None:
    marks = client.hc_marks(session.token, PATIENT)
    assert marks[:7].decode() == client.server_time()[:7]
    assert _code(lambda: client.hc_marks(session.token, "12")) is Code.INVALID_PARAMETER
