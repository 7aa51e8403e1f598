"""The read endpoints and the card update: a card's data, history and illnesses.

Each function takes the verified signer and the request body and returns the
answer's fields; the cloud adds ``statusCode`` and fills what is missing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from broker import roc
from nhi_kit.cloud.context import World, card_id
from nhi_kit.cloud.history import TREATMENTS_PER_UPDATE, seed_of
from nhi_kit.cloud.signatures import Signed

CARD_KEEPS = 6  # a card holds its last six visits (就醫累計資料); older ones are not answered
UPDATE_VALIDITY = dt.timedelta(days=365)  # an update gives an expired card another year
JsonDict = dict[str, Any]
FEES = ("outpatientFee", "costFee", "inpatientFee", "inpatient30Fee", "inpatient180Fee")


def basic_data(_world: World, signed: Signed, _body: JsonDict) -> JsonDict:
    """BasicData/Query: the card's printed data."""
    hc = signed.hc
    assert hc is not None
    return {
        "cardSn": hc.card_id,
        "name": hc.name,
        "idCardNum": hc.id_no,
        "birthday": hc.birthday,
        "sex": hc.sex,
        "dateIssue": hc.issue_date,
        "cancelTermination": "",  # 註銷註記: no kit card is cancelled
    }


def register(world: World, signed: Signed, body: JsonDict) -> JsonDict:
    """BasicData/Register: the printed data, the insurer, validity and treatments left."""
    seed = seed_of(card_id(signed))
    return {
        **basic_data(world, signed, body),
        "insurerCode": seed.insurer_code,
        "insurerId": seed.insurer_id,
        **register2(world, signed, body),
        "newbornBirthday": "",
        "newbornBaby": "",
    }


def register2(world: World, signed: Signed, _body: JsonDict) -> JsonDict:
    """BasicData/Register2: validity and the treatments left before an update."""
    record = world.store.card(card_id(signed))
    return {
        "cardValidity": record["cardValidity"],
        "treatmentCounter": str(record["treatmentsLeft"]),
    }


def emergent_tel(_world: World, signed: Signed, _body: JsonDict) -> JsonDict:
    """EmergentTel/Query: the emergency contact number."""
    return {"tel": seed_of(card_id(signed)).tel}


def update_card(world: World, signed: Signed, _body: JsonDict) -> JsonDict:
    """HcContent/Update: treatments back to six; an expired validity a year from today."""
    record = world.store.card(card_id(signed))
    record["treatmentsLeft"] = TREATMENTS_PER_UPDATE
    if record["cardValidity"] < world.today():
        record["cardValidity"] = roc.format_date(world.now().date() + UPDATE_VALIDITY)
    return {}


def critical_illnesses(_world: World, signed: Signed, _body: JsonDict) -> JsonDict:
    """CriticalIllness/Query: the holder's 重大傷病 with their codes (an HPC signed)."""
    return {"criticalIllnesses": _illnesses(signed, with_code=True)}


def treatments_no_hpc(world: World, signed: Signed, _body: JsonDict) -> JsonDict:
    """Treatment/NoNeedHPC: illness periods without codes, visits with their fees."""
    treatments = [
        {
            "treatmentItem": v["treatmentItem"],
            "treatDateTime": v["treatmentDateTime"],
            "afterCheck": v["afterCheck"],
            "hospitalVisit": v["sequenceNumber"],
            "hospitalId": v["hospitalId"],
            **{fee: (v["fees"] or {}).get(fee, "") for fee in FEES},
        }
        for v in _kept_visits(world, signed)
    ]
    return {"criticalIllnesses": _illnesses(signed, with_code=False), "treatments": treatments}


def treatments_hpc(world: World, signed: Signed, _body: JsonDict) -> JsonDict:
    """Treatment/NeedHPC: illnesses with codes, visits with their diagnosis codes."""
    treatments = [
        {
            "treatDateTime": v["treatmentDateTime"],
            **{k: (v["codes"] or {}).get(k, "") for k in ("mainCode", *_SUB_CODES[:3])},
        }
        for v in _kept_visits(world, signed)
    ]
    return {"criticalIllnesses": _illnesses(signed, with_code=True), "treatments": treatments}


def prescriptions(world: World, signed: Signed, _body: JsonDict) -> JsonDict:
    """Prescription/Query: the prescriptions of the kept visits, newest visit first."""
    shown = (
        "treatmentDateTime",
        "treatmentItem",
        "treatmentItemCode",
        "treatmentPosition",
        "usage",
        "days",
        "totalQuantity",
    )
    items = [
        {k: p.get(k, "") for k in shown}
        for v in _kept_visits(world, signed)
        for p in v["prescriptions"]
    ]
    return {"outpatientPrescriptions": items}


_SUB_CODES = tuple(f"subCode{n}" for n in range(1, 6))


def _kept_visits(world: World, signed: Signed) -> list[JsonDict]:
    visits = [v for v in world.store.visits(card_id(signed)) if not v["rolledBack"]]
    return sorted(visits, key=lambda v: str(v["treatmentDateTime"]), reverse=True)[:CARD_KEEPS]


def _illnesses(signed: Signed, *, with_code: bool) -> list[JsonDict]:
    shown = (
        ("ciCode", "validityStart", "validityEnd")
        if with_code
        else ("validityStart", "validityEnd")
    )
    return [{k: ci[k] for k in shown} for ci in seed_of(card_id(signed)).critical_illnesses]
