"""The wire names (api/wire.py): what each answer record shows is what its route documents,
and a request body's fields reach the function typed."""

from __future__ import annotations

import base64

import pytest

from api.routes import ROUTES, Route
from api.wire import answer_json, arguments, camel, event_json
from broker.answers import (
    Answer,
    CardIds,
    HcBasic,
    HcPinState,
    HpcHolder,
    PatientData,
    ReaderTime,
    Signature,
    Signed,
    TransferCode,
    VersionInfo,
)
from broker.arguments import Arguments
from broker.cards.records import SamIdentity
from broker.rules import Function
from broker.state import ActorRestarted, CardMoved, StationDegraded

PATIENT = CardIds("900000000711", "A123456789")
DOCTOR = CardIds("100000291539", "B223456789")
BASE = Signed(
    client_random=b"\x01" * 8, sam_id="901000000047", hospital_id="3501200000", service_type="01"
)
PEOPLE = {
    "card_id": "900000000711",
    "id_no": "A123456789",
    "name": "王小明",
    "birthday": "0600101",
    "sex": "M",
}

SAMPLES: dict[Function, Answer] = {
    Function.VERSION: VersionInfo("1.2.0.1", "6000", "60", "/usr/bin/nhi-broker"),
    Function.READER_TIME: ReaderTime("1151201120000"),
    Function.SAM_BASIC: SamIdentity("901000000047", "3501200000", "測試診所", None),
    Function.SAM_SIGN: Signature(BASE, b"sam"),
    Function.HCA_BASIC: HpcHolder("100000291539", "B223456789", "林醫師", "LIN"),
    Function.HCA_SIGN: Signature(BASE.with_hpc(DOCTOR), b"hpc"),
    Function.HC_BASIC: HcBasic(**PEOPLE, identity_status="1", date_issue=None),
    Function.HC_SIGN: Signature(BASE.with_hc(PATIENT), b"sam"),
    Function.HC_THREE_CARD_SIGN: Signature(BASE.with_hc(PATIENT).with_hpc(DOCTOR), b"sam"),
    Function.HC_PIN_STATUS: HcPinState(has_pin=True),
    Function.HC_READ_VIRTUAL: PatientData(**PEOPLE, identity_status="1"),
    Function.HC_VIRTUAL_EXPORT: TransferCode("ABCD1234"),
}


@pytest.mark.parametrize("route", [r for r in ROUTES if r.reply], ids=lambda r: r.path)
def test_every_answer_shows_exactly_the_fields_its_route_documents(route: Route) -> None:
    shown = answer_json(SAMPLES[route.function])
    assert set(shown) == set(route.reply)


def test_a_function_that_answers_nothing_shows_no_fields() -> None:
    assert answer_json(None) == {}


def test_camel_names_are_the_manuals() -> None:
    assert [camel(n) for n in ("c_name", "identity_status", "server_date_time", "inbox")] == [
        "cName",
        "identityStatus",
        "serverDateTime",
        "inbox",
    ]


def test_which_patient_a_signature_is_for_is_in_what_it_covers() -> None:
    signed = BASE.with_hc(PATIENT)
    covered = signed.covered().decode()
    assert "hcId=900000000711" in covered
    assert "hcIdNo=A123456789" in covered
    shown = answer_json(Signature(signed, b"sig"))
    assert shown["hcId"] == PATIENT.card_id
    assert shown["signature"] == base64.b64encode(b"sig").decode()
    assert shown["clientRandom"] == base64.b64encode(b"\x01" * 8).decode()


def test_what_a_signature_covers_is_its_shown_fields_in_name_order() -> None:
    signed = BASE.with_hc(PATIENT).with_hpc(DOCTOR)
    fields = signed.shown()
    assert signed.covered() == "|".join(f"{k}={fields[k]}" for k in sorted(fields)).encode()
    assert "hpcId" not in BASE.with_hc(PATIENT).shown()  # the HPC signs before its ids are added


def test_a_request_body_reaches_the_function_typed() -> None:
    body = {"serviceType": "01", "newPin": "1234", "transferCode": "X", "name": "COM1"}
    assert arguments(body) == Arguments(
        service_type="01", new_pin="1234", transfer_code="X", name="COM1"
    )


def test_a_bodys_extra_or_non_text_fields_are_not_taken() -> None:
    assert arguments({"hisVersion": "9", "pin": 1234, "token": None}) == Arguments()


def test_events_show_their_records_by_wire_names() -> None:
    moved = CardMoved("Virtual Reader 0", "slot", True, "hc", "900000000711")
    assert event_json(moved) == {
        "reader": "Virtual Reader 0",
        "slot": "slot",
        "present": True,
        "kind": "hc",
        "cardId": "900000000711",
    }
    assert event_json(CardMoved("r", "s", False, None, None))["cardId"] is None
    assert event_json(ActorRestarted("hc:local", 2)) == {"actor": "hc:local", "restarts": 2}
    assert event_json(ActorRestarted("monitor:pcsc")) == {"actor": "monitor:pcsc"}
    assert event_json(StationDegraded("too many")) == {"reason": "too many"}
