"""The data-centre client: every call has a deadline, failures become 1700/1701/1702/1799.

Only idempotent calls are retried (once): a retried SAM authentication or
token verification would spend something the DC counts. The cause of a
failure goes to the log; the caller gets the manual's code.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import ssl
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from broker.codes import Code
from broker.dc.records import DcSession, HcaHolder, VhcCard, VirtualCardBinding
from broker.errors import BrokerError

log = structlog.get_logger("broker.dc")
JsonDict = dict[str, Any]
# Told of every exchange with the DC: (path, seconds, code); 0 is success.
Observer = Callable[[str, float, int], None]


class DcError(BrokerError):
    """A DC call failed; ``code`` is 1700–1799 or the DC's own refusal code."""

    default_code = Code.DC_CONNECTION

    def __init__(self, detail: str = "", *, code: Code | None = None, retriable: bool = False):
        super().__init__(detail, code=code)
        self.retriable = retriable


@dataclass(frozen=True)
class DcConfig:
    """Where the DC is and how long to wait for it."""

    url: str
    timeout: float = 5.0  # seconds for one whole call: connect, send, receive
    retries: int = 1  # extra tries for idempotent calls only
    ca_file: str | None = None  # trust this certificate (the simulator's) instead of the system's


class DcClient:
    """Typed calls of ``docs/dc-protocol.md``.

    Observers (``add_observer``) are told of every exchange (a retry is a
    second one): the metrics' DC latency histogram. They must not block.
    """

    def __init__(self, config: DcConfig) -> None:
        self.config = config
        self._observers: list[Observer] = []
        parsed = urllib.parse.urlsplit(config.url)
        if parsed.scheme != "https" or not parsed.hostname:
            raise ValueError(f"the DC url must be https://host[:port], got {config.url!r}")
        self._host, self._port = parsed.hostname, parsed.port or 443
        self._context = ssl.create_default_context(cafile=config.ca_file)

    # --- SAM ------------------------------------------------------------------

    def server_time(self) -> str:
        """The DC's clock (ROC ``YYYMMDDHHMMSS``)."""
        return _string(self._call("GET", "/dc/v1/time", idempotent=True), "serverTime")

    def sam_challenge(self, sam_id: str) -> bytes:
        """Step 1 of SAM authentication: the DC's random."""
        reply = self._call("POST", "/dc/v1/sam/challenge", {"samId": sam_id})
        return _binary(reply, "dcRandom")

    def sam_authenticate(
        self, sam_id: str, dc_random: bytes, sam_random: bytes, signature: bytes
    ) -> DcSession:
        """Step 2: the SAM's answer → a session and the grant (never retried)."""
        body = {
            "samId": sam_id,
            "dcRandom": _b64(dc_random),
            "samRandom": _b64(sam_random),
            "signature": _b64(signature),
        }
        reply = self._call("POST", "/dc/v1/sam/authenticate", body)
        return DcSession(
            _string(reply, "session"),
            _string(reply, "expiresAt"),
            _binary(reply, "grant"),
            _string(reply, "serverTime"),
        )

    def logout(self, session: str) -> None:
        """End a session."""
        self._call("DELETE", "/dc/v1/sam/session", {}, session=session, idempotent=True)

    def cloud_sam_file(self, sam_id: str) -> tuple[str, bytes]:
        """A cloud SAM file from the simulator (the real DC has its own portal)."""
        reply = self._call("POST", "/dc/v1/sam/files", {"samId": sam_id})
        return _string(reply, "fileName"), _binary(reply, "content")

    # --- virtual health cards ------------------------------------------------

    def vhc_read(self, session: str, token: str) -> VhcCard:
        """The token's card data, without spending a verification."""
        reply = self._call(
            "POST", "/dc/v1/vhc/read", {"token": token}, session=session, idempotent=True
        )
        return _card(reply)

    def vhc_verify(self, session: str, token: str, device_id: str) -> VirtualCardBinding:
        """Verify the token (spends one use) and bind the card to this device."""
        body = {"token": token, "deviceId": device_id}
        reply = self._call("POST", "/dc/v1/vhc/verify", body, session=session)
        return VirtualCardBinding(_string(reply, "vhcId"), _card(reply))

    def vhc_export(self, session: str, vhc_id: str, device_id: str) -> str:
        """Start a transfer; the transfer code."""
        body = {"vhcId": vhc_id, "deviceId": device_id}
        reply = self._call("POST", "/dc/v1/vhc/export", body, session=session)
        return _string(reply, "transferCode")

    def vhc_import(self, session: str, code: str, device_id: str) -> VirtualCardBinding:
        """Finish a transfer on this device."""
        body = {"transferCode": code, "deviceId": device_id}
        reply = self._call("POST", "/dc/v1/vhc/import", body, session=session)
        return VirtualCardBinding(_string(reply, "vhcId"), _card(reply))

    def vhc_token(self, card_id: str) -> str:
        """A fresh token for a kit person (simulator only)."""
        return _string(self._call("POST", "/dc/v1/vhc/tokens", {"cardId": card_id}), "token")

    # --- HCA and marks -----------------------------------------------------------

    def hca_challenge(self, session: str) -> bytes:
        """A random for the HPC to sign."""
        return _binary(self._call("POST", "/dc/v1/hca/challenge", {}, session=session), "challenge")

    def hca_verify(
        self, session: str, certificate: bytes, challenge: bytes, signature: bytes
    ) -> HcaHolder:
        """Check an HPC certificate and its signature over the challenge."""
        body = {
            "certificate": _b64(certificate),
            "challenge": _b64(challenge),
            "signature": _b64(signature),
        }
        return _holder(self._call("POST", "/dc/v1/hca/verify", body, session=session))

    def hca_mobile(self, session: str, assertion: str) -> HcaHolder:
        """Check a mobile HCA assertion."""
        body = {"assertion": assertion}
        return _holder(self._call("POST", "/dc/v1/hca/mobile", body, session=session))

    def hc_marks(self, session: str, card_id: str) -> bytes:
        """The marks to write into a health card."""
        reply = self._call(
            "POST", "/dc/v1/hc/marks", {"cardId": card_id}, session=session, idempotent=True
        )
        return _binary(reply, "marks")

    # --- the one place that talks HTTP ------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: JsonDict | None = None,
        *,
        session: str | None = None,
        idempotent: bool = False,
    ) -> JsonDict:
        tries = 1 + (self.config.retries if idempotent else 0)
        for attempt in range(1, tries + 1):
            try:
                return self._call_once(method, path, body, session)
            except DcError as exc:
                if attempt == tries or not exc.retriable:
                    raise
                log.info("dc.retry", path=path, attempt=attempt, cause=exc.detail)
        raise AssertionError("unreachable")  # pragma: no cover

    def _call_once(
        self, method: str, path: str, body: JsonDict | None, session: str | None
    ) -> JsonDict:
        started = time.perf_counter()
        code = Code.DC_CONNECTION  # what an unexpected exception counts as
        try:
            reply = self._exchange_checked(method, path, body, session)
        except DcError as exc:
            code = exc.code
            raise
        else:
            code = Code.OK
            return reply
        finally:
            seconds = time.perf_counter() - started
            log.debug("dc.call", path=path, ms=round(seconds * 1000, 1))
            self._observed(path, seconds, code)

    def _exchange_checked(
        self, method: str, path: str, body: JsonDict | None, session: str | None
    ) -> JsonDict:
        deadline = time.monotonic() + self.config.timeout
        try:
            status, raw = self._exchange(method, path, body, session, deadline)
        except (OSError, http.client.HTTPException) as exc:
            cause = f"{type(exc).__name__}: {exc}"
            raise _failed(path, Code.DC_CONNECTION, cause, retriable=True) from exc
        if status == 404:
            raise _failed(path, Code.DC_UNKNOWN_COMMAND, "HTTP 404")
        if status != 200:
            raise _failed(path, Code.DC_HTTP_ERROR, f"HTTP {status}", retriable=status >= 500)
        return _parse_reply(path, raw)

    def add_observer(self, observer: Observer) -> None:
        """Be told of every exchange with the DC from now on: ``observer(path, seconds, code)``."""
        self._observers.append(observer)

    def _observed(self, path: str, seconds: float, code: Code) -> None:
        for observe in list(self._observers):
            try:
                observe(path, seconds, int(code))
            except Exception:  # a metrics bug must never fail a DC call
                log.exception("dc.observer_failed", path=path)

    def _exchange(
        self, method: str, path: str, body: JsonDict | None, session: str | None, deadline: float
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPSConnection(
            self._host, self._port, timeout=_remaining(deadline), context=self._context
        )
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if session is not None:
            headers["Authorization"] = f"Bearer {session}"
        payload = json.dumps(body).encode() if body is not None else None
        try:
            connection.connect()
            connection.sock.settimeout(_remaining(deadline))
            connection.request(method, path, body=payload, headers=headers)
            connection.sock.settimeout(_remaining(deadline))
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the DC call's deadline passed")
    return left


def _failed(path: str, code: Code, cause: str, *, retriable: bool = False) -> DcError:
    log.warning("dc.call_failed", path=path, code=int(code), cause=cause)
    return DcError(f"{path}: {cause}", code=code, retriable=retriable)


def _parse_reply(path: str, raw: bytes) -> JsonDict:
    try:
        reply = json.loads(raw)
        code = reply["code"]
    except (ValueError, TypeError, KeyError) as exc:
        raise _failed(path, Code.DC_UNDEFINED_ERROR, f"not a DC reply: {raw[:60]!r}") from exc
    if type(code) is not int:
        raise _failed(path, Code.DC_UNDEFINED_ERROR, f"code is {code!r}")
    if code != 0:
        try:
            refused = Code(code)
        except ValueError:
            raise _failed(path, Code.DC_UNDEFINED_ERROR, f"unknown code {code}") from None
        log.info("dc.refused", path=path, code=code, reason=reply.get("message"))
        raise DcError(f"{path}: {reply.get('message', '')}", code=refused)
    if not isinstance(reply, dict):
        raise _failed(path, Code.DC_UNDEFINED_ERROR, "reply is not an object")
    return reply


def _string(reply: JsonDict, name: str) -> str:
    value = reply.get(name)
    if not isinstance(value, str):
        raise _failed("reply", Code.DC_UNDEFINED_ERROR, f"{name} missing")
    return value


def _binary(reply: JsonDict, name: str) -> bytes:
    try:
        return base64.b64decode(_string(reply, name), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _failed("reply", Code.DC_UNDEFINED_ERROR, f"{name} is not base64") from exc


def _card(reply: JsonDict) -> VhcCard:
    try:
        return VhcCard.from_json(reply["card"])
    except (KeyError, TypeError) as exc:
        raise _failed("reply", Code.DC_UNDEFINED_ERROR, "card is incomplete") from exc


def _holder(reply: JsonDict) -> HcaHolder:
    try:
        return HcaHolder.from_json(reply["holder"])
    except (KeyError, TypeError) as exc:
        raise _failed("reply", Code.DC_UNDEFINED_ERROR, "holder is incomplete") from exc


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
