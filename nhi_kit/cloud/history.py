"""What the simulated cloud knows of each kit person at first start, keyed by card id.

Enough history for the read endpoints to answer something: past visits with
codes, fees and prescriptions, emergency numbers, and critical illnesses for
陳美玲 (900000000735). 吳佳蓉 (900000000711) has one treatment left before
her card needs an update; 歐陽娜娜 (900000000759) has none left, so her first
``SequelNumber/Next`` answers 5003 until ``HcContent/Update``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TREATMENTS_PER_UPDATE = 6  # what HcContent/Update gives a card (就醫可用次數)
KIT_HOSPITAL = "3501200000"  # 臺北虛擬診所, where the kit's past visits happened
JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Seed:
    """One card's record at first start."""

    treatments_left: int
    card_validity: str  # ROC YYYMMDD
    tel: str
    insurer_code: str = "0400000000"
    insurer_id: str = "A1B2C3D4E5"
    critical_illnesses: tuple[JsonDict, ...] = ()
    visits: tuple[JsonDict, ...] = field(default_factory=tuple)


def past_visit(
    when: str, seq: str, main_code: str, fee: str, prescriptions: tuple[JsonDict, ...] = ()
) -> JsonDict:
    """A finished visit at the kit's clinic, as the store keeps visits."""
    return {
        "treatmentDateTime": when,
        "sequenceNumber": seq,
        "treatmentItem": "01",
        "afterCheck": "",
        "babyTreatment": " ",
        "hospitalId": KIT_HOSPITAL,
        "treatmentNumber": f"{KIT_HOSPITAL}{when[:7]}{seq}",
        "rolledBack": False,
        "codes": {"mainCode": main_code, **{f"subCode{n}": "" for n in range(1, 6)}},
        "fees": {
            "outpatientFee": fee,
            "costFee": "50",
            "inpatientFee": "0",
            "inpatient30Fee": "0",
            "inpatient180Fee": "0",
        },
        "prescriptions": [dict(p, treatmentDateTime=when) for p in prescriptions],
    }


def drug(code: str, usage: str, days: str, total: str) -> JsonDict:
    """An outpatient prescription item (a drug by its NHI code)."""
    return {
        "treatmentItem": "1",
        "treatmentItemCode": code,
        "treatmentPosition": "",
        "usage": usage,
        "days": days,
        "totalQuantity": total,
        "deliveryNotes": "",
    }


SEEDS: dict[str, Seed] = {
    "900000000711": Seed(
        1,
        "1161231",
        "0912345678",
        visits=(
            past_visit(
                "1130115093000", "0001", "J069", "350", (drug("A000001100", "TID", "3", "9"),)
            ),
            past_visit("1130402101500", "0003", "K2970", "420"),
        ),
    ),
    "900000000728": Seed(
        4,
        "1171231",
        "0223456789",
        visits=(past_visit("1121120143000", "0002", "M545", "380"),),
    ),
    "900000000735": Seed(
        3,
        "1151231",
        "0939876543",
        critical_illnesses=(
            {"ciCode": "C509", "validityStart": "1100301", "validityEnd": "1150228"},
            {"ciCode": "N186", "validityStart": "1120601", "validityEnd": "9991231"},
        ),
        visits=(
            past_visit(
                "1130220090000",
                "0001",
                "C509",
                "520",
                (drug("BC23456100", "BID", "28", "56"), drug("AC45678100", "QD", "28", "28")),
            ),
            past_visit(
                "1130320090500", "0002", "N186", "480", (drug("BC23456100", "BID", "28", "56"),)
            ),
        ),
    ),
    "900000000742": Seed(6, "1191231", "0287654321"),
    "900000000759": Seed(
        0,
        "1140930",
        "0955000111",
        visits=(past_visit("1130610160000", "0004", "J029", "330"),),
    ),
    "000012345678": Seed(5, "1181231", "0277778888"),
}


def seed_of(card_id: str) -> Seed:
    """A card's seed; a card without history gets a fresh one (six treatments, no visits)."""
    return SEEDS.get(card_id, Seed(TREATMENTS_PER_UPDATE, "1191231", ""))
