"""The data-centre simulator's HTTP face: ``/dc/v1/…`` over ``DataCentre`` (docs/dc-protocol.md)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import falcon

from broker.codes import Code
from broker.errors import BrokerError
from nhi_kit.emulators.dc.simulator import DataCentre

JsonDict = dict[str, Any]


@dataclass
class Faults:
    """Switchable faults: latency, outage, HTTP 5xx, malformed replies."""

    latency_ms: int = 0
    down: bool = False
    http5xx: bool = False
    malformed: bool = False
    requests: int = 0  # every /dc/ request seen, for tests of retry behaviour

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()  # ends simulated latency when the simulator stops


class BadRequestError(BrokerError):
    """A request field is missing or malformed (1704, naming the field)."""

    default_code = Code.INVALID_PARAMETER


def field(body: JsonDict, name: str) -> str:
    """A required string field."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequestError(f"{name} must be a non-empty string")
    return value


def binary(body: JsonDict, name: str) -> bytes:
    """A required base64 field."""
    try:
        return base64.b64decode(field(body, name), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequestError(f"{name} must be base64") from exc


def b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")


class FaultMiddleware:
    """Applies the injected faults to every ``/dc/`` request."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Delay, fail or garble before the resource runs."""
        with self._faults.lock:
            self._faults.requests += 1
            latency, http5xx, malformed = (
                self._faults.latency_ms,
                self._faults.http5xx,
                self._faults.malformed,
            )
        if latency:
            self._faults.stopping.wait(latency / 1000)  # the simulated DC is slow
        if http5xx:
            raise falcon.HTTPServiceUnavailable(title="simulated outage")
        if malformed:
            resp.content_type = "text/html"
            resp.text = "<html>gateway says hello</html>"
            resp.complete = True


Step = Callable[[JsonDict, str], JsonDict]


class Endpoint:
    """Base: JSON in, ``{"code": 0, …}`` out, refusals as ``{"code": N, "message"}``."""

    def __init__(self, dc: DataCentre) -> None:
        self.dc = dc

    def reply(self, req: falcon.Request, resp: falcon.Response, step: Step | None) -> None:
        """Run ``step`` with the body and the bearer session; write the JSON reply (404 if
        there is no such step)."""
        if step is None:
            raise falcon.HTTPNotFound()
        try:
            body = req.get_media(default_when_empty={})
            if not isinstance(body, dict):
                raise BadRequestError("the body must be a JSON object")
            result = step(body, _session(req))
            resp.media = {"code": 0, **result}
        except falcon.MediaMalformedError:
            resp.media = {"code": int(Code.INVALID_PARAMETER), "message": "body is not JSON"}
        except BrokerError as exc:
            resp.media = {"code": int(exc.code), "message": exc.detail or exc.message}


def _session(req: falcon.Request) -> str:
    header = req.get_header("Authorization") or ""
    return header.removeprefix("Bearer ").strip()


class TimeResource(Endpoint):
    """GET /dc/v1/time."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The DC's clock."""
        self.reply(req, resp, self.time)

    def time(self, _body: JsonDict, _session: str) -> JsonDict:
        """The DC's clock."""
        return {"serverTime": self.dc.server_time()}


class SamResource(Endpoint):
    """POST /dc/v1/sam/{step}; DELETE /dc/v1/sam/session."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, step: str) -> None:
        """Challenge, authenticate, or issue a cloud SAM file."""
        steps = {
            "challenge": self.challenge,
            "authenticate": self.authenticate,
            "files": self.files,
        }
        self.reply(req, resp, steps.get(step))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, step: str) -> None:
        """Log out."""
        self.reply(req, resp, self.logout if step == "session" else None)

    def challenge(self, body: JsonDict, _session: str) -> JsonDict:
        """Step 1 of SAM authentication."""
        return {"dcRandom": b64(self.dc.sam_challenge(field(body, "samId")))}

    def authenticate(self, body: JsonDict, _session: str) -> JsonDict:
        """Step 2: a session, the grant and the time."""
        result = self.dc.sam_authenticate(
            field(body, "samId"),
            binary(body, "dcRandom"),
            binary(body, "samRandom"),
            binary(body, "signature"),
        )
        expires = dt.datetime.fromtimestamp(result.session.expires_at, dt.UTC)
        return {
            "session": result.session.token,
            "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "grant": b64(result.grant),
            "serverTime": result.server_time,
        }

    def files(self, body: JsonDict, _session: str) -> JsonDict:
        """A cloud SAM file (simulator only)."""
        name, content = self.dc.issue_cloud_sam(field(body, "samId"))
        return {"fileName": name, "content": b64(content)}

    def logout(self, _body: JsonDict, session: str) -> JsonDict:
        """End the session."""
        self.dc.logout(session)
        return {}


class VhcResource(Endpoint):
    """POST /dc/v1/vhc/{action}."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, action: str) -> None:
        """Dispatch to the action."""
        actions = {
            "read": self.do_read,
            "verify": self.do_verify,
            "export": self.do_export,
            "import": self.do_import,
            "tokens": self.do_tokens,
        }
        self.reply(req, resp, actions.get(action))

    def do_read(self, body: JsonDict, session: str) -> JsonDict:
        """Read without spending."""
        return {"card": self.dc.vhc_read(session, field(body, "token")).to_json()}

    def do_verify(self, body: JsonDict, session: str) -> JsonDict:
        """Verify, spending one use."""
        vhc_id, card = self.dc.vhc_verify(session, field(body, "token"), field(body, "deviceId"))
        return {"vhcId": vhc_id, "card": card.to_json()}

    def do_export(self, body: JsonDict, session: str) -> JsonDict:
        """Start a transfer."""
        code = self.dc.vhc_export(session, field(body, "vhcId"), field(body, "deviceId"))
        return {"transferCode": code}

    def do_import(self, body: JsonDict, session: str) -> JsonDict:
        """Finish a transfer."""
        vhc_id, card = self.dc.vhc_import(
            session, field(body, "transferCode"), field(body, "deviceId")
        )
        return {"vhcId": vhc_id, "card": card.to_json()}

    def do_tokens(self, body: JsonDict, _session: str) -> JsonDict:
        """A fresh token for a kit person (simulator only)."""
        return {"token": self.dc.issue_token(field(body, "cardId"))}


class HcaResource(Endpoint):
    """POST /dc/v1/hca/{action}."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, action: str) -> None:
        """Dispatch to the action."""
        actions = {
            "challenge": self.do_challenge,
            "verify": self.do_verify,
            "mobile": self.do_mobile,
        }
        self.reply(req, resp, actions.get(action))

    def do_challenge(self, _body: JsonDict, session: str) -> JsonDict:
        """A random for the HPC to sign."""
        return {"challenge": b64(self.dc.hca_challenge(session))}

    def do_verify(self, body: JsonDict, session: str) -> JsonDict:
        """Check certificate and signature."""
        holder = self.dc.hca_verify(
            session,
            binary(body, "certificate"),
            binary(body, "challenge"),
            binary(body, "signature"),
        )
        return {"holder": holder.to_json()}

    def do_mobile(self, body: JsonDict, session: str) -> JsonDict:
        """Check a mobile HCA assertion."""
        return {"holder": self.dc.hca_mobile(session, field(body, "assertion")).to_json()}


class MarksResource(Endpoint):
    """POST /dc/v1/hc/marks."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The marks to write."""
        self.reply(req, resp, self.marks)

    def marks(self, body: JsonDict, session: str) -> JsonDict:
        """The marks to write."""
        return {"marks": b64(self.dc.hc_marks(session, field(body, "cardId")))}


def create_app(dc: DataCentre, faults: Faults) -> falcon.App[falcon.Request, falcon.Response]:
    """The simulator's ``/dc/v1`` application."""
    app = falcon.App(middleware=[FaultMiddleware(faults)])
    app.add_route("/dc/v1/time", TimeResource(dc))
    app.add_route("/dc/v1/sam/{step}", SamResource(dc))
    app.add_route("/dc/v1/vhc/{action}", VhcResource(dc))
    app.add_route("/dc/v1/hca/{action}", HcaResource(dc))
    app.add_route("/dc/v1/hc/marks", MarksResource(dc))
    return app
