"""The broker's exceptions: one root, each carrying its NHI status code.

Messages name what went wrong but never carry secrets: no PIN, PUK or key
material is ever formatted into an error.
"""

from __future__ import annotations

from typing import ClassVar

from broker.codes import Code


class BrokerError(Exception):
    """Root of every domain error; ``code`` is the manual's status code."""

    default_code: ClassVar[Code] = Code.PCSC_OTHER

    def __init__(self, detail: str = "", *, code: Code | None = None) -> None:
        self.code: Code = code if code is not None else self.default_code
        self.detail = detail
        super().__init__(
            f"{self.code.display} {self.code.message}" + (f": {detail}" if detail else "")
        )

    @property
    def message(self) -> str:
        """The manual's text for the code (what an HIS client is shown)."""
        return self.code.message


class InvalidParameterError(BrokerError):
    """A caller's argument is malformed; the detail names the field."""

    default_code = Code.INVALID_PARAMETER


# --- transports ------------------------------------------------------------


class TransportError(BrokerError):
    """A reader or its link failed."""


class CardAbsentError(TransportError):
    """No card in the slot, or the card was pulled mid-conversation."""

    default_code = Code.NO_CARD


class ReaderNotFoundError(TransportError):
    """The named PC/SC reader does not exist (or pcscd is gone)."""

    default_code = Code.PCSC_READER_UNKNOWN


class ReaderError(TransportError):
    """The serial reader failed: bad frame, timeout, unplugged."""

    default_code = Code.READER_FAILED


class ReaderTimeoutError(ReaderError):
    """The reader did not answer within its I/O timeout."""


class PinPadTimeoutError(ReaderTimeoutError):
    """Nobody entered a PIN on the reader's pad in time."""


class PinPadCancelledError(ReaderError):
    """The person at the reader pressed Cancel on the PIN pad."""


class DeviceAbsentError(ReaderError):
    """The reader is not there: not plugged in yet, or unplugged (its port is closed).

    A state, not a failure: the broker looks for the device again by itself.
    """

    default_code = Code.COMPORT_OPEN_FAILED


class PortOpenError(DeviceAbsentError):
    """The serial port could not be opened."""


# --- card status words -----------------------------------------------------


class ApduError(BrokerError):
    """A card answered with a status word other than success."""

    def __init__(self, sw: int, detail: str = "", *, code: Code | None = None) -> None:
        self.sw = sw
        super().__init__(f"SW {sw:04X}" + (f" ({detail})" if detail else ""), code=code)


class WrongPinError(ApduError):
    """A PIN or PUK was refused; ``tries_left`` before the card blocks."""

    default_code = Code.HPC_PIN_FAILED

    def __init__(self, sw: int, detail: str = "", *, code: Code | None = None) -> None:
        self.tries_left = sw & 0x0F
        super().__init__(sw, detail or f"{self.tries_left} tries left", code=code)


class PinBlockedError(ApduError):
    """The PIN (or PUK) is blocked after too many wrong tries: 0 tries left.

    The detail says so, so that a client can tell a locked card from a wrong PIN.
    """

    default_code = Code.HPC_PIN_FAILED
    tries_left = 0

    def __init__(self, sw: int = 0x6983, detail: str = "", *, code: Code | None = None) -> None:
        super().__init__(sw, detail or "blocked, 0 tries left: unblock it with the PUK", code=code)


class SecurityStatusError(ApduError):
    """The card refused: authentication or PIN verification is missing."""


class NoPinSetError(ApduError):
    """The card has no PIN set (reference data not usable)."""

    default_code = Code.HC_NO_PIN_SET


class AuthenticationFailedError(ApduError):
    """A cryptogram or signature check failed on the card."""


class NotSupportedError(ApduError):
    """The card does not know the instruction or application."""

    default_code = Code.SELECT_FAILED


class WrongLengthError(ApduError):
    """The card refused the command's length."""


# --- cross-card rules ------------------------------------------------------


class FormalTestMixError(BrokerError):
    """A formal (production) card met a test card (manual: 1003)."""

    default_code = Code.FORMAL_TEST_MIXED
