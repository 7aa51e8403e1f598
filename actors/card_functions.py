"""The health-professional and health-card functions of a station, and what every signature
covers. A part of ``StationActor`` (actors/station.py), kept apart to keep each file small."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from actors.base import ActorHandle, Forwarded
from actors.hc import (
    GetHc,
    HcBasicData,
    HcLogout,
    HcPin,
    HcProof,
    HcUpdateMarks,
    HcView,
    HcVirtualExport,
    HcVirtualImport,
    HcVirtualVerify,
    HcWithHca,
    virtual_patient,
)
from actors.hca import (
    HcaBasicData,
    HcaLogout,
    HcaMobileVerify,
    HcaResetPin,
    HcaSetPin,
    HcaSign,
    HcaVerifyPin,
)
from actors.messages import Message
from actors.sam import SamSign, SamView
from actors.station_calls import Binding, Call
from broker import errors
from broker.answers import HcPinState, PatientData, Signature, Signed, TransferCode
from broker.codes import Code
from broker.dc.client import DcClient
from broker.state import HcType
from broker.vhc import check_token_format

T = TypeVar("T")


class CardFunctions:
    """The HCA and HC functions; the station supplies its actors and its SAM's session."""

    _hc: ActorHandle
    _hca: ActorHandle
    _dc: DcClient
    _device_id: str

    def _binding_or_fail(self) -> Binding:
        raise NotImplementedError

    def _sam_view(self, message: Message[Any]) -> SamView:
        raise NotImplementedError

    def _session(self, message: Message[Any]) -> str:
        raise NotImplementedError

    if TYPE_CHECKING:  # BrokerActor's, after this class in the station's bases

        def at_dc(self, work: Callable[[], T]) -> T: ...

    # --- HCA ------------------------------------------------------------------------

    def _do_hca_verify_pin(self, message: Call) -> None:
        pin = message.args.pin
        self._hca.ask(message.child(HcaVerifyPin(pin=pin, session=self._session(message))))

    def _do_hca_logout(self, message: Call) -> None:
        self._hca.ask(message.child(HcaLogout()))

    def _do_hca_mobile_verify(self, message: Call) -> None:
        assertion = _given(message.args.certificate, "certificate")
        session = self._session(message)
        self._hca.ask(message.child(HcaMobileVerify(assertion=assertion, session=session)))

    def _do_hca_mobile_logout(self, message: Call) -> None:
        self._hca.ask(message.child(HcaLogout()))

    def _do_hca_basic(self, message: Call) -> Forwarded:
        return self._hca.forward(message.child(HcaBasicData()))

    def _do_hca_sign(self, message: Call) -> Signature:
        fields, _ = self._signature_base(message)
        signed = self._hca.ask(message.child(HcaSign(data=fields.covered())))
        return Signature(fields.with_hpc(signed.signer), signed.signature)

    def _do_hca_set_pin(self, message: Call) -> None:
        self._hca.ask(message.child(HcaSetPin(new_pin=_given(message.args.new_pin, "newPin"))))

    def _do_hca_reset_pin(self, message: Call) -> None:
        args = message.args
        puk, new_pin = _given(args.puk, "puk"), _given(args.new_pin, "newPin")
        self._hca.ask(message.child(HcaResetPin(puk=puk, new_pin=new_pin)))

    # --- HC -------------------------------------------------------------------------

    def _do_hc_virtual_verify(self, message: Call) -> None:
        token = _token(message.args.token)
        self._hc.ask(
            message.child(
                HcVirtualVerify(
                    token=token, session=self._session(message), device_id=self._device_id
                )
            )
        )

    def _do_hc_logout(self, message: Call) -> None:
        self._hc.ask(message.child(HcLogout()))

    def _do_hc_basic(self, message: Call) -> Forwarded:
        return self._hc.forward(message.child(HcBasicData()))

    def _do_hc_sign(self, message: Call) -> Signature:
        fields, client_random = self._signature_base(message)
        patient, proof = self._hc.ask(message.child(HcProof(client_random=client_random)))
        return self._sam_signed(message, fields.with_hc(patient), proof)

    def _do_hc_three_card_sign(self, message: Call) -> Signature:
        fields, client_random = self._signature_base(message)
        patient, proof = self._hc.ask(message.child(HcProof(client_random=client_random)))
        fields = fields.with_hc(patient)
        hpc = self._hca.ask(message.child(HcaSign(data=fields.covered() + proof)))
        result = self._sam_signed(message, fields.with_hpc(hpc.signer), proof + hpc.signature)
        self._hc.ask(message.child(HcWithHca()))
        return result

    def _do_hc_pin_status(self, message: Call) -> HcPinState:
        status = self._hc.ask(message.child(HcPin(action="status")))
        return HcPinState(has_pin=status.has_pin)

    def _do_hc_pin_verify(self, message: Call) -> None:
        self._hc.ask(message.child(HcPin(action="verify", pin=_given(message.args.pin, "pin"))))

    def _do_hc_pin_set(self, message: Call) -> None:
        self._hc.ask(message.child(HcPin(action="set", pin=_given(message.args.new_pin, "newPin"))))

    def _do_hc_pin_clear(self, message: Call) -> None:
        self._hc.ask(message.child(HcPin(action="clear")))

    def _do_hc_read_virtual(self, message: Call) -> PatientData:
        session, token = self._session(message), _token(message.args.token)
        return virtual_patient(self.at_dc(lambda: self._dc.vhc_read(session, token)))

    def _do_hc_virtual_export(self, message: Call) -> TransferCode:
        session = self._session(message)
        code = self._hc.ask(
            message.child(HcVirtualExport(session=session, device_id=self._device_id))
        )
        return TransferCode(transfer_code=code)

    def _do_hc_virtual_import(self, message: Call) -> None:
        code = _given(message.args.transfer_code, "transferCode")
        self._hc.ask(
            message.child(
                HcVirtualImport(
                    code=code, session=self._session(message), device_id=self._device_id
                )
            )
        )

    def _do_hc_update_marks(self, message: Call) -> None:
        view: HcView = self._hc.ask(message.child(GetHc()))
        if view.hc_type is not HcType.PHYSICAL or view.card_id is None:
            raise errors.BrokerError("marks live on physical cards", code=Code.HC_PHYSICAL_ONLY)
        self._hc.ask(message.child(HcUpdateMarks(session=self._session(message))))

    # --- signatures ------------------------------------------------------------------

    def _signature_base(self, message: Call) -> tuple[Signed, bytes]:
        """The fields every signature shows, and the client random they were made with."""
        service_type = message.args.service_type
        if not (
            isinstance(service_type, str) and len(service_type) == 2 and service_type.isdigit()
        ):
            raise errors.InvalidParameterError("serviceType must be two digits, e.g. 01")
        identity = self._sam_view(message).identity
        if identity is None:
            raise errors.BrokerError("the SAM did not identify itself", code=Code.SAM_MODE1_FAILED)
        client_random = os.urandom(8)
        fields = Signed(
            client_random=client_random,
            sam_id=identity.sam_id,
            hospital_id=identity.hospital_id,
            service_type=service_type,
        )
        return fields, client_random

    def _sam_signed(self, message: Call, fields: Signed, proofs: bytes) -> Signature:
        """The SAM's signature over the fields and the cards' proofs."""
        data = fields.covered() + proofs
        return Signature(fields, self._binding_or_fail().sam.ask(message.child(SamSign(data=data))))


def _given(value: str | None, field: str) -> str:
    """An argument the function needs; ``field`` is its name in the request."""
    if not value:
        raise errors.InvalidParameterError(f"{field} is required")
    return value


def _token(token: str | None) -> str:
    check_token_format(token)
    return str(token).strip()
