"""The writing endpoints: sequence numbers, rollback, codes and fees, prescriptions,
treatment numbers, tele-medicine tokens and virtual-card applications."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from broker import roc
from nhi_kit.cloud.codes import CloudCode, CloudRefusedError
from nhi_kit.cloud.context import World, b64, card_id, field_text, sign, visit_of
from nhi_kit.cloud.reads import FEES
from nhi_kit.cloud.signatures import Signed, text
from nhi_kit.emulators.dc.tokens import TokenKeys, issue_token
from nhi_kit.emulators.people import HEALTH_CARDS, HcPerson

JsonDict = dict[str, Any]
SUB_CODES = tuple(f"subCode{n}" for n in range(1, 6))
PRESCRIPTION_FIELDS = (
    "days",
    "deliveryNotes",
    "totalQuantity",
    "treatmentDateTime",
    "treatmentItem",
    "treatmentItemCode",
    "treatmentPosition",
    "usage",
)


def sequence_next(world: World, signed: Signed, body: JsonDict) -> JsonDict:
    """SequelNumber/Next: a visit with today's next sequence number; 5003 if no treatments left."""
    card = card_id(signed)
    record = world.store.card(card)
    if record["treatmentsLeft"] <= 0:
        raise CloudRefusedError(CloudCode.UPDATE_CARD_FIRST, f"card {card} has no treatments left")
    item = text(body, "treatmentItem")
    when = _unused_time(world, card)
    day = when[:7]
    same_day = any(
        v["treatmentDateTime"][:7] == day
        and v["hospitalId"] == signed.hospital_id
        and not v["rolledBack"]
        for v in record["visits"]
    )
    sequence = f"{world.store.next_sequence(card, day):04d}"
    number = _treatment_number(world, signed.hospital_id, day)
    record["visits"].append(
        {
            "treatmentDateTime": when,
            "sequenceNumber": sequence,
            "treatmentItem": item,
            "afterCheck": field_text(body, "afterCheck"),
            "babyTreatment": field_text(body, "babyTreatment", " "),
            "hospitalId": signed.hospital_id,
            "treatmentNumber": number,
            "rolledBack": False,
            "codes": None,
            "fees": None,
            "prescriptions": [],
        }
    )
    record["treatmentsLeft"] -= 1
    proof = {"hcId": card, "hospitalId": signed.hospital_id, "sequenceNumber": sequence}
    return {
        "treatmentDateTime": when,
        "sequenceNumber": sequence,
        "hospitalId": signed.hospital_id,
        "signature": b64(sign({**proof, "treatmentDateTime": when})),
        "samId": signed.sam.sam_id,
        "isSameDay": same_day,
        "treatmentNumber": number,
    }


def rollback(world: World, signed: Signed, body: JsonDict) -> JsonDict:
    """SequelNumber/Rollback (退掛): the visit no longer counts; its treatment is given back."""
    visit = visit_of(world, signed, body)
    visit["rolledBack"] = True
    world.store.card(card_id(signed))["treatmentsLeft"] += 1
    return {}


def write_code_fee(world: World, signed: Signed, body: JsonDict) -> JsonDict:
    """Treatment/WriteCodeFee: the visit's diagnosis codes and fees; 3209 when written before."""
    visit = visit_of(world, signed, body)
    again = visit["codes"] is not None
    visit["codes"] = {
        "mainCode": text(body, "mainCode"),
        **{k: field_text(body, k) for k in SUB_CODES},
    }
    visit["fees"] = {fee: field_text(body, fee, "0") for fee in FEES}
    return {"statusCode": int(CloudCode.WRITTEN_AGAIN)} if again else {}


def write_prescriptions(world: World, signed: Signed, body: JsonDict) -> JsonDict:
    """Prescription/Write: the items, kept in order, each with the cloud's signature."""
    visit = visit_of(world, signed, body)
    items = body.get("prescriptions")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise CloudRefusedError(CloudCode.BAD_REQUEST, "prescriptions must be a list of objects")
    signatures = []
    for item in items:
        kept = {k: field_text(item, k) for k in PRESCRIPTION_FIELDS}
        kept["treatmentDateTime"] = kept["treatmentDateTime"] or visit["treatmentDateTime"]
        visit["prescriptions"].append(kept)
        signatures.append(
            sign(
                {
                    **kept,
                    "hcId": card_id(signed),
                    "hospitalId": signed.hospital_id,
                    "visit": visit["treatmentDateTime"],
                    "index": str(len(visit["prescriptions"])),
                }
            )
        )
    return {
        "signatureItems": [b64(s) for s in signatures],
        "hexSignatureItems": [s.hex().upper() for s in signatures],
    }


def treatment_number_card(world: World, signed: Signed, body: JsonDict) -> JsonDict:
    """TreatmentNumber/Card: the treatment number a visit was given."""
    return {"treatmentNumber": visit_of(world, signed, body)["treatmentNumber"]}


def treatment_number_no_card(world: World, signed: Signed, body: JsonDict) -> JsonDict:
    """TreatmentNumber/NoCard: a treatment number for a patient without a card (異常就醫)."""
    text(body, "patientId")
    when = world.now_roc()
    return {
        "treatmentDateTime": when,
        "hospitalId": signed.hospital_id,
        "treatmentNumber": _treatment_number(world, signed.hospital_id, when[:7]),
    }


def request_token(world: World, signed: Signed, body: JsonDict) -> JsonDict:
    """TeleMedicine/RequestToken: an access token for a kit patient (by ID number)."""
    patient = _patient(text(body, "patientId"))
    token = secrets.token_urlsafe(18)
    world.store.state["accessTokens"][token] = {
        "patientId": patient.id_no,
        "hospitalId": signed.hospital_id,
    }
    return {"accessToken": token}


def response_token(world: World, signed: Signed, body: JsonDict) -> JsonDict:
    """TeleMedicine/ResponseToken: the patient's virtual-card QR token, once per access token."""
    token = text(body, "accessToken")
    granted = world.store.state["accessTokens"].get(token)
    if granted is None or granted["hospitalId"] != signed.hospital_id:
        raise CloudRefusedError(CloudCode.UNKNOWN_ACCESS_TOKEN, "not issued to this hospital")
    del world.store.state["accessTokens"][token]
    person = _patient(granted["patientId"])
    return {"virtualCardToken": issue_token(person, TokenKeys.kit(), world.clock())}


def apply_virtual_hc(world: World, _signed: Signed, body: JsonDict) -> JsonDict:
    """ApplyVirtualHc/Apply (test host only): a kit test person of that sex, with a QR token."""
    sex, birthday = text(body, "sex"), text(body, "birthday")
    foreigner = body.get("isForeigner", False)
    if sex not in ("M", "F") or not isinstance(foreigner, bool):
        raise CloudRefusedError(CloudCode.BAD_REQUEST, "sex must be M or F, isForeigner a bool")
    people = [p for p in HEALTH_CARDS if p.sex == sex and p.card_id.startswith("9")]
    person = next((p for p in people if p.birthday == birthday), people[0])
    return {
        "sex": sex,
        "birthday": person.birthday,
        "isForeigner": foreigner,
        "hcId": person.card_id,
        "idCardNum": person.id_no,
        "name": person.name,
        "virtualCardToken": issue_token(person, TokenKeys.kit(), world.clock()),
    }


def _patient(id_no: str) -> HcPerson:
    person = next((p for p in HEALTH_CARDS if p.id_no == id_no), None)
    if person is None:
        raise CloudRefusedError(CloudCode.UNKNOWN_PATIENT, f"patientId {id_no[:20]!r}")
    return person


def _unused_time(world: World, card: str) -> str:
    """Now in ROC, moved on a second while this card already has a visit at that time."""
    taken = {v["treatmentDateTime"] for v in world.store.visits(card)}
    moment = world.now()
    while roc.format_datetime(moment) in taken:
        moment += dt.timedelta(seconds=1)
    return roc.format_datetime(moment)


def _treatment_number(world: World, hospital_id: str, day: str) -> str:
    """就醫識別碼 (ours): hospital id, ROC day and the hospital's running number."""
    return f"{hospital_id}{day}{world.store.next_treatment_number(hospital_id):06d}"
