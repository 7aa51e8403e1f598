"""The data-centre simulator as a running service: HTTPS on loopback plus a control port."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import falcon

from broker.errors import BrokerError
from nhi_https.certificates import ensure_certificate
from nhi_https.server import HttpServer
from nhi_https.simple_https import SimpleHttpsServer
from nhi_kit.dcsim.app import Faults, create_app
from nhi_kit.emulators.dc.simulator import Contract, DataCentre

FAULT_FIELDS = {"latencyMs": int, "down": bool, "http5xx": bool, "malformed": bool}


class DcSimulator:
    """``DataCentre`` served over HTTPS, with faults switchable at run time."""

    def __init__(
        self,
        dc: DataCentre,
        cert_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        control_port: int | None = None,
    ) -> None:
        self.dc = dc
        self.faults = Faults()
        self.cert_path, key_path = ensure_certificate(cert_dir, "dc-simulator")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, key_path)
        self._server = SimpleHttpsServer(create_app(dc, self.faults), host, port, context)
        self._control: HttpServer | None = None
        if control_port is not None:
            self._control = HttpServer(create_control_app(self), host, control_port)

    @property
    def url(self) -> str:
        """Base URL of the simulated DC (``https://127.0.0.1:PORT``)."""
        return self._server.url

    @property
    def control_url(self) -> str | None:
        """Base URL of the control API, if one was asked for."""
        return self._control.url if self._control is not None else None

    def start(self) -> None:
        """Serve."""
        self._server.start()
        if self._control is not None:
            self._control.start()

    def stop(self) -> None:
        """Stop serving."""
        self.faults.stopping.set()
        if self._control is not None:
            self._control.stop()
        if not self.faults.down:
            self._server.stop()

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Change faults (``latency_ms``, ``down``, ``http5xx``, ``malformed``); returns them."""
        with self.faults.lock:
            was_down = self.faults.down
            for name, value in changes.items():
                setattr(self.faults, name, value)
            down = self.faults.down
        if down and not was_down:
            self._server.pause()  # connections are refused from now on
        elif was_down and not down:
            self._server.resume()
        return self.fault_state()

    @property
    def requests(self) -> int:
        """How many ``/dc/`` requests arrived so far."""
        with self.faults.lock:
            return self.faults.requests

    def fault_state(self) -> dict[str, Any]:
        """The faults in force, in the control API's names."""
        with self.faults.lock:
            return {
                "latencyMs": self.faults.latency_ms,
                "down": self.faults.down,
                "http5xx": self.faults.http5xx,
                "malformed": self.faults.malformed,
            }


class ControlResource:
    """The simulator's control API (plain HTTP, loopback)."""

    def __init__(self, simulator: DcSimulator) -> None:
        self.simulator = simulator

    def on_get_state(self, _req: falcon.Request, resp: falcon.Response) -> None:
        """GET /control/state."""
        resp.media = self.simulator.fault_state()

    def on_post_faults(self, req: falcon.Request, resp: falcon.Response) -> None:
        """POST /control/faults."""
        body = _body(req)
        changes = {}
        for name, kind in FAULT_FIELDS.items():
            if name in body:
                value = body[name]
                if type(value) is not kind or (isinstance(value, int) and value < 0):
                    raise falcon.HTTPBadRequest(title=f"{name} must be {kind.__name__}")
                changes[_snake(name)] = value
        resp.media = self.simulator.set_faults(**changes)

    def on_post_contracts(self, req: falcon.Request, resp: falcon.Response) -> None:
        """POST /control/contracts."""
        body = _body(req)
        try:
            self.simulator.dc.set_contract(str(body.get("samId")), Contract(body.get("state")))
        except ValueError as exc:
            raise falcon.HTTPBadRequest(
                title="state must be valid, expired, suspended or revoked"
            ) from exc
        except BrokerError as exc:  # an unknown SAM
            raise falcon.HTTPBadRequest(title=exc.detail) from exc
        resp.media = {"samId": body["samId"], "state": body["state"]}

    def on_post_revocations(self, req: falcon.Request, resp: falcon.Response) -> None:
        """POST /control/revocations."""
        serial = _body(req).get("serial")
        if type(serial) is not int:
            raise falcon.HTTPBadRequest(title="serial must be an integer")
        self.simulator.dc.hca_trust.revoke(serial)
        resp.media = {"serial": serial}


def _body(req: falcon.Request) -> dict[str, Any]:
    body = req.get_media(default_when_empty={})
    if not isinstance(body, dict):
        raise falcon.HTTPBadRequest(title="the body must be a JSON object")
    return body


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def create_control_app(simulator: DcSimulator) -> falcon.App[falcon.Request, falcon.Response]:
    """The control API's application."""
    app = falcon.App()
    resource = ControlResource(simulator)
    app.add_route("/control/state", resource, suffix="state")
    app.add_route("/control/faults", resource, suffix="faults")
    app.add_route("/control/contracts", resource, suffix="contracts")
    app.add_route("/control/revocations", resource, suffix="revocations")
    return app
