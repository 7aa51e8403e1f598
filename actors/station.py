"""StationActor: one HIS workstation's view — its device, the cross-card rules, the functions.

Each function first reaches the state it needs by itself where the rules
allow (a cloud SAM verifies itself; a present card is verified with the
SAM), then runs. The station asks only downward (SAM, HCA, HC actors), each
with what is left of the caller's deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.base import ActorHandle, BrokerActor, Forwarded, Handlers, Supervised
from actors.card_functions import CardFunctions
from actors.hc import (
    GetHc,
    HcLogout,
    HcVerified,
    HcView,
)
from actors.hca import (
    GetHca,
    HcaLogout,
    HcaVerified,
    HcaView,
)
from actors.holder import Bind, CurrentSource, Redetect, Release, Source
from actors.messages import Message
from actors.reader import ReadClock
from actors.sam import (
    AuthenticateCard,
    GetSam,
    LogoutSam,
    SamView,
    VerifySam,
)
from actors.station_calls import (
    AT_ONCE,
    STATION_CODE,
    Binding,
    Call,
    Devices,
    Direct,
    Reconnect,
    direct,
    restart_code,
    version,
)
from broker import errors, rules
from broker.answers import Answer, ReaderTime, Signature, VersionInfo
from broker.arguments import Arguments
from broker.cards import commands as cmd
from broker.cards.records import SamIdentity
from broker.codes import Code
from broker.dc.client import DcClient
from broker.rules import Function

__all__ = [
    "AT_ONCE",
    "Binding",
    "Call",
    "Devices",
    "Direct",
    "Reconnect",
    "StationActor",
    "direct",
    "restart_code",
]

from broker.state import (
    HcaStatus,
    HcStatus,
    HcType,
    SamStatus,
    SamType,
    StateBoard,
)


class StationActor(CardFunctions, BrokerActor):
    """One station: its SAM, HCA and HC, and the rules between them."""

    crash_code = STATION_CODE

    def unavailable_code(self, message: object) -> Code:
        """The code of the card the call needs (``restart_code``)."""
        return restart_code(message)

    def __init__(
        self,
        supervised: Supervised,
        station: str,
        board: StateBoard,
        devices: Devices,
        hca: ActorHandle,
        hc: ActorHandle,
        dc: DcClient,
        device_id: str,
        remember_device: Callable[[str | None], None] = lambda _name: None,
    ) -> None:
        super().__init__(supervised)
        self.station = station
        self.board = board
        self._devices = devices
        self._hca = hca
        self._hc = hc
        self._dc = dc
        self._device_id = device_id
        self._remember = remember_device
        self._binding: Binding | None = None
        self._functions = self.functions()

    def handlers(self) -> Handlers:
        """Each message this actor takes, and its handler."""
        return {
            Call: self.on_call,
            Reconnect: self.on_reconnect,
        }

    def on_start(self) -> None:
        """A (re)started station is not initialised (its device must be connected again)."""
        self.board.update(
            self.station,
            initialized=False,
            device_name=None,
            reader_name=None,
            sam_type=SamType.NONE,
            sam_status=SamStatus.NONE,
        )

    def on_stop(self) -> None:
        """Let go of the device so another station actor may bind it."""
        if self._binding is not None:
            self._devices.release(self.station, self._binding.device_name)

    def functions(self) -> dict[Function, Callable[[Call], Answer | Forwarded]]:
        """Each function of the manual and the method that runs it once its state is reached."""
        return {
            Function.INITIAL: self._do_initial,
            Function.FINALIZE: self._do_finalize,
            Function.VERSION: self._do_version,
            Function.READER_TIME: self._do_reader_time,
            Function.SAM_VERIFY: self._do_sam_verify,
            Function.SAM_LOGOUT: self._do_sam_logout,
            Function.SAM_BASIC: self._do_sam_basic,
            Function.SAM_SIGN: self._do_sam_sign,
            Function.HCA_VERIFY_PIN: self._do_hca_verify_pin,
            Function.HCA_LOGOUT: self._do_hca_logout,
            Function.HCA_MOBILE_VERIFY: self._do_hca_mobile_verify,
            Function.HCA_MOBILE_LOGOUT: self._do_hca_mobile_logout,
            Function.HCA_BASIC: self._do_hca_basic,
            Function.HCA_SIGN: self._do_hca_sign,
            Function.HCA_SET_PIN: self._do_hca_set_pin,
            Function.HCA_RESET_PIN: self._do_hca_reset_pin,
            Function.HC_VIRTUAL_VERIFY: self._do_hc_virtual_verify,
            Function.HC_LOGOUT: self._do_hc_logout,
            Function.HC_BASIC: self._do_hc_basic,
            Function.HC_SIGN: self._do_hc_sign,
            Function.HC_THREE_CARD_SIGN: self._do_hc_three_card_sign,
            Function.HC_PIN_STATUS: self._do_hc_pin_status,
            Function.HC_PIN_VERIFY: self._do_hc_pin_verify,
            Function.HC_PIN_SET: self._do_hc_pin_set,
            Function.HC_PIN_CLEAR: self._do_hc_pin_clear,
            Function.HC_READ_VIRTUAL: self._do_hc_read_virtual,
            Function.HC_VIRTUAL_EXPORT: self._do_hc_virtual_export,
            Function.HC_VIRTUAL_IMPORT: self._do_hc_virtual_import,
            Function.HC_UPDATE_MARKS: self._do_hc_update_marks,
        }

    def on_call(self, message: Call) -> Answer | Forwarded:
        """Check the rules, reach the needed state, run the function."""
        function = message.function
        rules.check_initialized(function, self.board.get(self.station))
        self._advance(function, message)
        result = self._functions[function](message)
        self.log.debug("station.call", function=function.name)  # the API logs its outcome
        return result

    def on_reconnect(self, message: Reconnect) -> None:
        """Connect the device again; a device that is gone now leaves the station uninitialised."""
        try:
            self.on_call(Call(function=Function.INITIAL, args=Arguments(name=message.device)))
        except errors.BrokerError as exc:
            self.log.warning("station.reconnect_failed", device=message.device, error=str(exc))

    # --- reaching the needed state ---------------------------------------------

    def _advance(self, function: Function, message: Message[Any]) -> None:
        need = rules.RULES[function]
        if need.sam is not None:
            self._sam_view(message)  # probes a SAM not seen yet
            state = self.board.get(self.station)
            if need.sam is SamStatus.VERIFIED and rules.sam_may_verify_itself(state):
                self._binding_or_fail().sam.ask(message.child(VerifySam(auto=True)))
            rules.check_sam(function, self.board.get(self.station))
        # A card is verified with the SAM only for a function that needs it verified;
        # one that takes the card in any state (HC logout) or ≥ 1 (HCA reset PIN) leaves it.
        if need.hca is not None and min(need.hca) is HcaStatus.VERIFIED:
            self._authenticate_hca(message)
        # The HCA first: a function refused for its HCA (no PIN is ever entered
        # automatically) must not have verified the HC on the way.
        rules.check_hca(function, self.board.get(self.station))
        if need.hc is not None and min(need.hc) is HcStatus.VERIFIED:
            self._authenticate_hc(message)
        if need.hc_logout_first and self._hc_in_use():
            # A new virtual card: whoever's card was in use is logged out first, so that
            # nothing signed after this is the previous patient's.
            self._hc.ask(message.child(HcLogout()))
        rules.check_hc(function, self.board.get(self.station))

    def _hc_in_use(self) -> bool:
        state = self.board.get(self.station)
        return state.hc_status >= HcStatus.VERIFIED or state.hc_type is HcType.VIRTUAL

    def _authenticate_hca(self, message: Message[Any]) -> None:
        if self.board.get(self.station).hca_status >= HcaStatus.VERIFIED:
            return  # the HCA actor published it: no need to ask
        view: HcaView = self._hca.ask(message.child(GetHca()))
        if view.status is not HcaStatus.PRESENT or view.card_id is None:
            return
        self._authenticate(message, self._hca, cmd.SAM_CARD_HPC, view.card_id, view)
        self._hca.ask(message.child(HcaVerified(generation=view.generation)))

    def _authenticate_hc(self, message: Message[Any]) -> None:
        if self.board.get(self.station).hc_status >= HcStatus.VERIFIED:
            return  # the HC actor published it: no need to ask (a pulled card fails the call)
        view: HcView = self._hc.ask(message.child(GetHc()))
        if view.status is HcStatus.NONE:
            self._hc.ask(message.child(Redetect()))  # a card the monitors have not reported yet
            view = self._hc.ask(message.child(GetHc()))
        if view.status is not HcStatus.PRESENT or view.card_id is None:
            return
        self._authenticate(message, self._hc, cmd.SAM_CARD_HC, view.card_id, view)
        self._hc.ask(message.child(HcVerified(generation=view.generation)))

    def _authenticate(
        self,
        message: Message[Any],
        holder: ActorHandle,
        family: int,
        card_id: str,
        view: HcView | HcaView,
    ) -> None:
        source: Source | None = holder.ask(message.child(CurrentSource()))
        if source is None:
            raise errors.BrokerError("the card left", code=Code.NO_CARD)
        self._binding_or_fail().sam.ask(
            message.child(
                AuthenticateCard(
                    reader=source.reader,
                    slot=source.slot,
                    family=family,
                    card_id=card_id,
                    environment=view.environment,
                )
            )
        )

    # --- common ---------------------------------------------------------------------

    def _do_initial(self, message: Call) -> None:
        name = message.args.name or None
        known = self._devices.names(self.station)
        if name is not None and name not in known:
            raise errors.BrokerError(f"no device {name!r}", code=Code.NO_DEVICE)
        failures: list[str] = []
        for candidate in [name] if name else known:
            try:
                self._connect(candidate, message)
            except errors.BrokerError as exc:
                failures.append(f"{candidate}: {exc.code.display}")
                if name:
                    raise
                continue
            self.log.info("station.initialized", device=candidate)
            return
        raise errors.BrokerError("; ".join(failures) or "no devices", code=Code.NO_DEVICE)

    def _connect(self, name: str, message: Message[Any]) -> None:
        binding = self._devices.connect(self.station, name)
        try:
            view: SamView = binding.sam.ask(message.child(GetSam()))
        except errors.BrokerError:
            self._devices.release(self.station, name)
            raise
        if view.status is SamStatus.NONE:
            self._devices.release(self.station, name)
            raise errors.BrokerError(f"no SAM in {name}", code=Code.SAM_MODE1_FAILED)
        self._binding = binding
        self.board.update(
            self.station,
            initialized=True,
            device_name=binding.device_name,
            reader_name=binding.reader_name,
            sam_type=view.sam_type,
            sam_status=view.status,
        )
        self._hca.ask(message.child(Bind(sources=binding.hca_sources)))
        self._hc.ask(message.child(Bind(sources=binding.hc_sources)))
        self._remember(name)

    def _do_finalize(self, message: Call) -> None:
        """Release everything: every card session ends, no virtual card or mobile HCA is kept."""
        binding = self._binding_or_fail()
        self._hca.ask(message.child(Release()))
        self._hc.ask(message.child(Release()))
        if not self._devices.shared_with(self.station, binding.device_name):
            # Its DC session ends too; a cloud SAM another workstation uses stays verified.
            binding.sam.ask(message.child(LogoutSam()))
        self._devices.release(self.station, binding.device_name)
        self._binding = None
        self.on_start()

    def _do_version(self, message: Call) -> VersionInfo:
        return version()

    def _do_reader_time(self, message: Call) -> ReaderTime:
        binding = self._binding_or_fail()
        if binding.sam_type is SamType.PHYSICAL and binding.clock is not None:
            return ReaderTime(binding.clock.ask(message.child(ReadClock())))
        return ReaderTime(self.at_dc(self._dc.server_time))

    # --- SAM ------------------------------------------------------------------------

    def _do_sam_verify(self, message: Call) -> None:
        self._binding_or_fail().sam.ask(message.child(VerifySam()))

    def _do_sam_logout(self, message: Call) -> None:
        self._binding_or_fail().sam.ask(message.child(LogoutSam()))
        self._hca.ask(message.child(HcaLogout(sam_gone=True)))
        self._hc.ask(message.child(HcLogout()))

    def _do_sam_basic(self, message: Call) -> SamIdentity:
        identity = self._sam_view(message).identity
        if identity is None:
            raise errors.BrokerError("the SAM did not identify itself", code=Code.SAM_MODE1_FAILED)
        return identity

    def _do_sam_sign(self, message: Call) -> Signature:
        fields, _ = self._signature_base(message)
        return self._sam_signed(message, fields, b"")

    # --- helpers ----------------------------------------------------------------------

    def _binding_or_fail(self) -> Binding:
        if self._binding is None:
            raise errors.BrokerError("no device connected", code=Code.NOT_INITIALIZED)
        return self._binding

    def _sam_view(self, message: Message[Any]) -> SamView:
        binding = self._binding_or_fail()
        view = binding.sam_cell.get()
        if view is not None and view.identity is not None and view.status is not SamStatus.NONE:
            return view  # no need to queue behind the SAM's other work
        asked: SamView = binding.sam.ask(message.child(GetSam()))
        return asked

    def _session(self, message: Message[Any]) -> str:
        view = self._sam_view(message)
        if view.session is None:
            raise errors.BrokerError("the SAM is not verified", code=Code.SAM_MODE2_FAILED)
        return view.session
