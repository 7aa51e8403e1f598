"""What the data centre answers, as typed records (shared by client and simulator)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DcSession:
    """A SAM's session with the DC, and the grant that authenticates the SAM."""

    token: str
    expires_at: str  # ISO 8601, UTC
    grant: bytes
    server_time: str  # ROC YYYMMDDHHMMSS, Taiwan time


@dataclass(frozen=True)
class VhcCard:
    """A virtual health card's data (no issue date: virtual cards have none)."""

    card_id: str
    id_no: str
    name: str
    birthday: str
    sex: str
    identity_status: str
    has_pin: bool
    pin_verified: bool

    def to_json(self) -> dict[str, Any]:
        """The protocol's field names."""
        return {
            "cardId": self.card_id,
            "idNo": self.id_no,
            "name": self.name,
            "birthday": self.birthday,
            "sex": self.sex,
            "identityStatus": self.identity_status,
            "hasPin": self.has_pin,
            "pinVerified": self.pin_verified,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VhcCard:
        """Parse the protocol's fields; KeyError/TypeError if incomplete."""
        strings = ("cardId", "idNo", "name", "birthday", "sex", "identityStatus")
        if not all(isinstance(data[k], str) for k in strings):
            raise TypeError("card fields must be strings")
        if not all(isinstance(data[k], bool) for k in ("hasPin", "pinVerified")):
            raise TypeError("hasPin and pinVerified must be booleans")
        card_id, id_no, name, birthday, sex, identity = (data[k] for k in strings)
        return cls(
            card_id, id_no, name, birthday, sex, identity, data["hasPin"], data["pinVerified"]
        )


@dataclass(frozen=True)
class VirtualCardBinding:
    """A verified virtual card bound to this device."""

    vhc_id: str
    card: VhcCard


@dataclass(frozen=True)
class HcaHolder:
    """A health professional as a checked certificate (or mobile assertion) names them."""

    card_id: str
    id_no: str
    name: str
    serial: int

    def to_json(self) -> dict[str, Any]:
        """The protocol's field names."""
        return {
            "cardId": self.card_id,
            "idNo": self.id_no,
            "name": self.name,
            "serial": self.serial,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HcaHolder:
        """Parse the protocol's fields; KeyError/TypeError if incomplete."""
        if not all(isinstance(data[k], str) for k in ("cardId", "idNo", "name")):
            raise TypeError("holder fields must be strings")
        if type(data["serial"]) is not int:
            raise TypeError("serial must be an integer")
        return cls(data["cardId"], data["idNo"], data["name"], data["serial"])
