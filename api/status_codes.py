"""Which ``statusCode`` values each function endpoint may answer, for the OpenAPI document:
its preconditions' codes (broker/rules.py), the DC's, the cards', and its own."""

from __future__ import annotations

from api.routes import Route
from broker.codes import Code
from broker.rules import RULES, Function, Need
from broker.state import HcaStatus

DC_CODES = (
    Code.DC_CONNECTION,
    Code.DC_UNKNOWN_COMMAND,
    Code.DC_HTTP_ERROR,
    Code.DC_SESSION_EXPIRED,
    Code.DC_UNDEFINED_ERROR,
)
# A serial reader's card whose reader is not plugged in: 1201.
CARD_CODES = (
    Code.NO_CARD,
    Code.SELECT_FAILED,
    Code.PCSC_OTHER,
    Code.COMPORT_OPEN_FAILED,
    Code.READER_FAILED,
)
# A call that runs out of time, or meets a restarting actor: the code of what held it up
# (actors/base.py, Forwarded.late), or of the card it needed.
LATE_CODES = (
    Code.PCSC_OTHER,
    Code.READER_FAILED,
    Code.SAM_MODE1_FAILED,
    Code.HPC_MODE1_FAILED,
    Code.HC_MODE1_FAILED,
    Code.DC_CONNECTION,
)
# A cloud SAM verifies itself with the DC when a function needs it (broker.rules).
SAM_AUTO_CODES = (
    Code.CONTRACT_EXPIRED,
    Code.HOSPITAL_SUSPENDED,
    Code.SAM_REVOKED,
    *DC_CODES,
)
HCA_CERT_CODES = (
    Code.HCA_BAD_SIGNATURE,
    Code.HCA_CERT_NOT_VALID_NOW,
    Code.HCA_UNTRUSTED_ISSUER,
    Code.HCA_CERT_REVOKED,
)
VHC_TOKEN_CODES = (
    Code.VHC_TOKEN_FORMAT,
    Code.VHC_TOKEN_TIMED_OUT,
    Code.VHC_TOKEN_MALFORMED,
    Code.VHC_TOKEN_BAD_SIGNATURE,
    Code.VHC_TOKEN_EXPIRED,
    Code.VHC_TOKEN_OVERUSED,
)
HC_PIN_CODES = (*CARD_CODES, Code.VHC_NO_PIN_FUNCTIONS)
# The mode a function needs the HCA in → the code when it is not (broker.rules.check_hca).
HCA_MODE_CODES = {
    HcaStatus.NONE: Code.HPC_MODE1_FAILED,
    HcaStatus.PRESENT: Code.HPC_MODE1_FAILED,
    HcaStatus.VERIFIED: Code.HPC_MODE2_FAILED,
    HcaStatus.PIN_VERIFIED: Code.HPC_MODE3_FAILED,
}
# Beyond the preconditions of broker.rules: what the function itself may answer.
FUNCTION_CODES: dict[Function, tuple[Code, ...]] = {
    Function.INITIAL: (
        Code.NO_DEVICE,
        Code.FORMAL_TEST_MIXED,
        Code.NO_DEFAULT_PCSC_READER,
        Code.COMPORT_OPEN_FAILED,
        Code.SAM_MODE1_FAILED,
        *CARD_CODES,
    ),
    Function.READER_TIME: (Code.READER_FAILED,),
    Function.SAM_VERIFY: (*CARD_CODES, *SAM_AUTO_CODES),
    Function.SAM_BASIC: CARD_CODES,
    Function.SAM_SIGN: CARD_CODES,
    Function.HCA_VERIFY_PIN: (*CARD_CODES, Code.HPC_PIN_FAILED, *HCA_CERT_CODES),
    Function.HCA_MOBILE_VERIFY: (
        Code.MOBILE_HCA_BAD_SIGNATURE,
        Code.MOBILE_HCA_HOSPITAL_MISMATCH,
        *HCA_CERT_CODES,
    ),
    Function.HCA_BASIC: CARD_CODES,
    Function.HCA_SIGN: (*CARD_CODES, Code.HPC_UNSUPPORTED, Code.HCA_SIGNING_TIMEOUT),
    Function.HCA_SET_PIN: (*CARD_CODES, Code.HPC_UNSUPPORTED),
    Function.HCA_RESET_PIN: (*CARD_CODES, Code.HPC_UNSUPPORTED, Code.HPC_PIN_FAILED),
    Function.HC_VIRTUAL_VERIFY: VHC_TOKEN_CODES,
    Function.HC_BASIC: CARD_CODES,
    Function.HC_SIGN: CARD_CODES,
    Function.HC_THREE_CARD_SIGN: CARD_CODES,
    Function.HC_PIN_STATUS: HC_PIN_CODES,
    Function.HC_PIN_VERIFY: (
        *HC_PIN_CODES,
        Code.HC_NO_PIN_SET,
        Code.HC_PIN_ALREADY_VERIFIED,
        Code.HC_PIN_FAILED,
    ),
    Function.HC_PIN_SET: (*HC_PIN_CODES, Code.HC_PIN_FAILED),
    Function.HC_PIN_CLEAR: (*HC_PIN_CODES, Code.HC_NO_PIN_SET, Code.HC_PIN_DISABLE_FAILED),
    Function.HC_READ_VIRTUAL: VHC_TOKEN_CODES,
    Function.HC_VIRTUAL_EXPORT: (Code.HC_VIRTUAL_ONLY,),
    Function.HC_VIRTUAL_IMPORT: (
        Code.VHC_TRANSFER_NOT_FOUND,
        Code.VHC_TRANSFER_OTHER_DEVICE,
        Code.VHC_TRANSFER_OTHER_HOSPITAL,
        Code.VHC_TRANSFER_INVALID,
    ),
    Function.HC_UPDATE_MARKS: (*CARD_CODES, Code.HC_PHYSICAL_ONLY),
}


def precondition_codes(need: Need) -> list[Code]:
    """The codes ``broker.rules`` answers when a function's state is not met."""
    codes: list[Code] = []
    if need.initialized is True:
        codes.append(Code.NOT_INITIALIZED)
    elif need.initialized is False:
        codes.append(Code.ALREADY_INITIALIZED)
    if need.sam is not None:
        codes += [Code.SAM_MODE1_FAILED, Code.SAM_MODE2_FAILED, *SAM_AUTO_CODES]
    if need.hca is not None:
        codes += [Code.HPC_MODE1_FAILED, HCA_MODE_CODES[min(need.hca)]]
    if need.hc is not None:
        codes += [Code.HC_MODE1_FAILED, Code.HC_MODE2_FAILED]
    if need.hc_pin_if_set:
        codes.append(Code.HC_PIN_NOT_VERIFIED)
    return codes


def route_codes(route: Route) -> list[int]:
    """Every statusCode a function endpoint may answer, ascending."""
    codes = {Code.OK, Code.INVALID_PARAMETER, *precondition_codes(RULES[route.function])}
    codes.update(FUNCTION_CODES.get(route.function, ()))
    if route.function is not Function.VERSION:  # answered at once, by no actor
        codes.update(LATE_CODES)
    return sorted(int(code) for code in codes)
