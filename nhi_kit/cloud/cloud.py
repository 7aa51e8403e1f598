"""The simulated NHI cloud: every endpoint of docs/cloud-protocol.md as JSON in, JSON out.

Pure and thread-safe: no HTTP here (``nhi_kit.cloud.server`` serves it).
Time comes from an injectable clock. A call checks its signature, then that
its client random is not spent, runs the endpoint, spends the random if the
call succeeded, and saves the state. Every answer carries every field of
its endpoint (empty where nothing applies), an integer ``statusCode`` and a
``message``.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from nhi_kit.cloud import reads, visits
from nhi_kit.cloud.codes import TEXT, CloudCode, CloudRefusedError
from nhi_kit.cloud.context import Clock, World
from nhi_kit.cloud.signatures import Kind, Signed, Verifier, VhcLookup
from nhi_kit.cloud.store import CloudStore

JsonDict = dict[str, Any]
Handler = Callable[[World, Signed, JsonDict], JsonDict]
RANDOM_WINDOW = 600.0  # seconds a spent client random is remembered (and refused again)
RECENT_CALLS = 200
SUCCESS = (CloudCode.OK, CloudCode.WRITTEN_AGAIN)
PRESCRIPTION_WRITE = "/api/v1/Prescription/Write"
log = structlog.get_logger("nhi_kit.cloud")

_BASIC = dict.fromkeys(
    ("cardSn", "name", "idCardNum", "birthday", "sex", "dateIssue", "cancelTermination"), ""
)
_REGISTER2 = {"cardValidity": "", "treatmentCounter": ""}
_REGISTER = {
    **_BASIC,
    "insurerCode": "",
    "insurerId": "",
    **_REGISTER2,
    "newbornBirthday": "",
    "newbornBaby": "",
}
_NEXT = {
    "treatmentDateTime": "",
    "sequenceNumber": "",
    "hospitalId": "",
    "signature": "",
    "samId": "",
    "isSameDay": False,
    "treatmentNumber": "",
}
_APPLY = {
    "sex": "",
    "birthday": "",
    "isForeigner": False,
    "hcId": "",
    "idCardNum": "",
    "name": "",
    "virtualCardToken": "",
}


@dataclass(frozen=True)
class Endpoint:
    """One cloud path: the signature it needs, its work, and the fields of its answer."""

    path: str
    kind: Kind
    service_type: str
    handler: Handler
    fields: JsonDict


def _ep(path: str, kind: Kind, service: str, handler: Handler, fields: JsonDict) -> Endpoint:
    return Endpoint(path, kind, service, handler, fields)


HC, HPC_HC, SAM = Kind.HC, Kind.HPC_HC, Kind.SAM
_ENDPOINTS = (
    _ep("/api/v1/BasicData/Query", HC, "01", reads.basic_data, _BASIC),
    _ep("/api/v1/BasicData/Register", HC, "01", reads.register, _REGISTER),
    _ep("/api/v1/BasicData/Register2", HC, "01", reads.register2, _REGISTER2),
    _ep("/api/v1/EmergentTel/Query", HC, "01", reads.emergent_tel, {"tel": ""}),
    _ep("/api/v1/HcContent/Update", HC, "04", reads.update_card, {}),
    _ep(
        "/api/v1/CriticalIllness/Query",
        HPC_HC,
        "01",
        reads.critical_illnesses,
        {"criticalIllnesses": []},
    ),
    _ep(
        "/api/v1/Treatment/NoNeedHPC",
        HC,
        "01",
        reads.treatments_no_hpc,
        {"criticalIllnesses": [], "treatments": []},
    ),
    _ep(
        "/api/v1/Treatment/NeedHPC",
        HPC_HC,
        "01",
        reads.treatments_hpc,
        {"criticalIllnesses": [], "treatments": []},
    ),
    _ep(
        "/api/v1/Prescription/Query",
        HPC_HC,
        "01",
        reads.prescriptions,
        {"outpatientPrescriptions": []},
    ),
    _ep("/api/v1/SequelNumber/Next", HC, "03", visits.sequence_next, _NEXT),
    _ep("/api/v1/Treatment/WriteCodeFee", HC, "02", visits.write_code_fee, {}),
    _ep(
        PRESCRIPTION_WRITE,
        HC,
        "02",
        visits.write_prescriptions,
        {"signatureItems": [], "hexSignatureItems": []},
    ),
    _ep("/api/v1/SequelNumber/Rollback", HC, "03", visits.rollback, {}),
    _ep(
        "/api/v1/TreatmentNumber/Card",
        HC,
        "03",
        visits.treatment_number_card,
        {"treatmentNumber": ""},
    ),
    _ep(
        "/api/v1/TreatmentNumber/NoCard",
        SAM,
        "03",
        visits.treatment_number_no_card,
        {"treatmentDateTime": "", "hospitalId": "", "treatmentNumber": ""},
    ),
    _ep("/api/v1/TeleMedicine/RequestToken", SAM, "01", visits.request_token, {"accessToken": ""}),
    _ep(
        "/api/v1/TeleMedicine/ResponseToken",
        SAM,
        "01",
        visits.response_token,
        {"virtualCardToken": ""},
    ),
    _ep("/test/v1/ApplyVirtualHc/Apply", SAM, "06", visits.apply_virtual_hc, _APPLY),
)
ENDPOINTS: dict[str, Endpoint] = {e.path: e for e in _ENDPOINTS}


class Cloud:
    """The cloud's endpoints over a store; faults injectable, recent calls kept."""

    def __init__(
        self,
        store: CloudStore,
        *,
        vhc_ids: VhcLookup | None = None,
        clock: Clock = time.time,
        random_window: float = RANDOM_WINDOW,
    ) -> None:
        self._world = World(store, clock)
        self._verifier = Verifier(vhc_ids)
        self._window = random_window
        self._injected: dict[str, list[int]] = {}  # path → [statusCode, calls left]
        self._recent: deque[JsonDict] = deque(maxlen=RECENT_CALLS)
        self._lock = threading.Lock()

    @property
    def store(self) -> CloudStore:
        """The state it keeps."""
        return self._world.store

    def call(self, path: str, body: Any) -> JsonDict:
        """The answer to ``POST path`` with ``body``; KeyError for a path not served."""
        endpoint = ENDPOINTS[path]
        try:
            answer = self._answer(endpoint, body)
        except CloudRefusedError as exc:
            answer = {"statusCode": int(exc.code), "message": exc.message}
        with self._lock:
            self._record(endpoint, body, answer)
        return {**endpoint.fields, **answer}

    def inject(self, path: str, status_code: int, count: int) -> None:
        """Answer ``status_code`` to the next ``count`` calls of ``path`` (0 clears)."""
        if path not in ENDPOINTS:
            raise KeyError(path)
        with self._lock:
            if count > 0:
                self._injected[path] = [status_code, count]
            else:
                self._injected.pop(path, None)

    def injected(self) -> dict[str, JsonDict]:
        """The injected answers still to come, by path."""
        with self._lock:
            return {p: {"statusCode": c, "count": n} for p, (c, n) in self._injected.items()}

    def recent_calls(self) -> list[JsonDict]:
        """The last calls, newest first: time, endpoint, card, statusCode."""
        with self._lock:
            return list(reversed(self._recent))

    def _answer(self, endpoint: Endpoint, body: Any) -> JsonDict:
        with self._lock:
            fault = self._take_fault(endpoint.path)
        if fault is not None:
            return {"statusCode": fault, "message": TEXT[CloudCode.SIMULATED_FAULT]}
        if not isinstance(body, dict):
            raise CloudRefusedError(CloudCode.BAD_REQUEST, "the body must be a JSON object")
        # Outside the lock: a refused signature's diagnosis may take a few hundred RSA
        # operations, and checking touches no state.
        signed = self._verifier.verify(body, endpoint.kind, endpoint.service_type)
        with self._lock:
            return self._run(endpoint, signed, body)

    def _run(self, endpoint: Endpoint, signed: Signed, body: JsonDict) -> JsonDict:
        """Run the endpoint; a refusal leaves the state as it was (nothing half written)."""
        self._check_fresh(endpoint, signed, body)
        store = self._world.store
        before = copy.deepcopy(store.state)
        try:
            result = endpoint.handler(self._world, signed, body)
        except CloudRefusedError:
            store.state = before
            raise
        answer = {"statusCode": int(CloudCode.OK), "message": TEXT[CloudCode.OK], **result}
        if answer["statusCode"] in SUCCESS:
            self._spend(endpoint, signed, body)
            store.save()
        return answer

    def _take_fault(self, path: str) -> int | None:
        injected = self._injected.get(path)
        if injected is None:
            return None
        injected[1] -= 1
        if injected[1] <= 0:
            del self._injected[path]
        return injected[0]

    def _check_fresh(self, endpoint: Endpoint, signed: Signed, body: JsonDict) -> None:
        """A spent random is refused, except by further Prescription/Write items of its visit."""
        randoms = self._world.store.state["randoms"]
        now = self._world.clock()
        for random in [r for r, spent in randoms.items() if spent["expires"] < now]:
            del randoms[random]
        spent = randoms.get(signed.client_random)
        if spent is None:
            return
        if endpoint.path == PRESCRIPTION_WRITE and spent == _spending(endpoint, body, spent):
            return
        raise CloudRefusedError(
            CloudCode.REPLAYED_RANDOM, f"spent by {spent['endpoint'].rsplit('/v1/', 1)[-1]}"
        )

    def _spend(self, endpoint: Endpoint, signed: Signed, body: JsonDict) -> None:
        randoms = self._world.store.state["randoms"]
        randoms[signed.client_random] = _spending(
            endpoint, body, {"expires": self._world.clock() + self._window}
        )

    def _record(self, endpoint: Endpoint, body: Any, answer: JsonDict) -> None:
        card = ""
        if isinstance(body, dict):
            card = str(body.get("hcId") or body.get("patientId") or "")[:20]
        entry = {
            "time": self._world.clock(),
            "endpoint": endpoint.path,
            "card": card,
            "statusCode": answer["statusCode"],
        }
        self._recent.append(entry)
        log.info("cloud.call", endpoint=endpoint.path, card=card, code=answer["statusCode"])


def _spending(endpoint: Endpoint, body: JsonDict, spent: JsonDict) -> JsonDict:
    """What a spent random remembers: when it lapses, the endpoint, and the visit it wrote."""
    return {
        "expires": spent["expires"],
        "endpoint": endpoint.path,
        "visit": f"{body.get('hcId', '')}|{body.get('treatmentDateTime', '')}",
    }
