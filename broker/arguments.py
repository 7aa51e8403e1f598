"""What a function of the manual is given: the fields of its request, typed.

The Web API reads them from the request body (api/wire.py); every field is
optional here, and each function checks the ones it needs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Arguments:
    """A call's arguments; None where the request did not give one."""

    name: str | None = None  # Initial: the device (a cloud SAM's id, or COMn)
    pin: str | None = None  # None on a reader whose PIN pad takes the PIN
    new_pin: str | None = None
    puk: str | None = None
    certificate: str | None = None  # a mobile certificate's assertion
    token: str | None = None  # a virtual health card's QR code
    transfer_code: str | None = None
    service_type: str | None = None  # two digits, e.g. "01"
