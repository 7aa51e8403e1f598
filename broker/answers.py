"""What each function of the manual answers, as typed records.

The actors return these; the Web API names their fields on the wire
(api/wire.py). A function that answers nothing but its status returns None.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass

from broker.cards.records import SamIdentity


@dataclass(frozen=True)
class VersionInfo:
    """Version: the control software's version numbers and where it runs from."""

    file_version: str
    long_version: str
    short_version: str
    location: str


@dataclass(frozen=True)
class ReaderTime:
    """The reader's (physical SAM) or the DC's (cloud SAM) time, ROC YYYMMDDHHMMSS."""

    server_date_time: str


@dataclass(frozen=True)
class PatientData:
    """A health card's holder as the virtual card read shows them."""

    card_id: str
    id_no: str
    name: str
    birthday: str  # ROC YYYMMDD
    sex: str  # "M" or "F"
    identity_status: str


@dataclass(frozen=True)
class HcBasic(PatientData):
    """The health card's basic data; a virtual card has no issue date."""

    date_issue: str | None


@dataclass(frozen=True)
class HpcHolder:
    """The health professional of a card or a mobile certificate (no English name there)."""

    card_id: str
    id_no: str
    c_name: str
    e_name: str


@dataclass(frozen=True)
class HcPinState:
    """Whether the health card has a PIN set."""

    has_pin: bool


@dataclass(frozen=True)
class TransferCode:
    """The code that moves a virtual card to another device."""

    transfer_code: str


@dataclass(frozen=True)
class CardIds:
    """Whose card a signature is for: card number and ID number."""

    card_id: str
    id_no: str


@dataclass(frozen=True, kw_only=True)
class Signed:
    """The fields a signature shows, and covers: the SAM, the service, the cards in it.

    What is signed starts with ``covered()``: the shown fields as ``name=value``
    joined by ``|`` in name order (docs/cloud-protocol.md), so the cloud can
    recompute it from the answer alone.
    """

    client_random: bytes
    sam_id: str
    hospital_id: str
    service_type: str
    hc: CardIds | None = None
    hpc: CardIds | None = None

    def with_hc(self, ids: CardIds) -> Signed:
        """The same fields for a patient's card."""
        return dataclasses.replace(self, hc=ids)

    def with_hpc(self, ids: CardIds) -> Signed:
        """The same fields for a health professional's card."""
        return dataclasses.replace(self, hpc=ids)

    def shown(self) -> dict[str, str]:
        """The fields by the names the answer and the covered text give them."""
        fields = {
            "clientRandom": base64.b64encode(self.client_random).decode("ascii"),
            "samId": self.sam_id,
            "hospitalId": self.hospital_id,
            "serviceType": self.service_type,
        }
        if self.hc is not None:
            fields.update(hcId=self.hc.card_id, hcIdNo=self.hc.id_no)
        if self.hpc is not None:
            fields.update(hpcId=self.hpc.card_id, hpcIdNo=self.hpc.id_no)
        return fields

    def covered(self) -> bytes:
        """The text a signature covers before the cards' proofs."""
        fields = self.shown()
        return "|".join(f"{k}={fields[k]}" for k in sorted(fields)).encode()


@dataclass(frozen=True)
class Signature:
    """A signature and the fields it was made for."""

    fields: Signed
    signature: bytes


Answer = (
    VersionInfo
    | ReaderTime
    | SamIdentity
    | PatientData
    | HpcHolder
    | HcPinState
    | TransferCode
    | Signature
    | None
)
