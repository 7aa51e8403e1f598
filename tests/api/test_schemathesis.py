"""Schemathesis against the served OpenAPI document: no 5xx, every answer as documented.

One sim broker serves every operation (starting one per operation would be
most of the run). Generation is deterministic and small; the DC fault switch
(it slows every later call) and the endless event stream are left out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import falcon.testing
import pykka
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, BaseSchema, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.openapi import OPENAPI_PATH
from api.services import ApiServices, token_hash
from broker import config
from nhi_broker.assembly import assemble
from nhi_broker.webapp import broker_app

ADMIN_TOKEN = "schemathesis-admin-token"
# The kit's test cloud SAM (the formal one, 0…, refuses the kit's test cards: 1003)
# and the station local's PC/SC reader for the HPC (COM1's PIN pad waits for a person).
TEST_SAM = "901000000047"
HPC_READER = "Virtual Reader 1"
# Cases that may change or block a card's PIN run after every other operation.
CARD_CHANGING = ("/Pin", "/Verification/Hpc")
EXCLUDED_PATHS = ("/api/sim/v1/Dc/Fault", "/api/events/v1")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
EXAMPLES = 15  # per operation and mode: the whole run stays well under a minute


@dataclass
class Api:
    """The app under test, its document, and a way back to a verified station."""

    schema: BaseSchema
    client: falcon.testing.TestClient

    def prime(self) -> None:
        """Best effort: the test cloud SAM connected and verified, its HPC's PIN verified.

        Without it, generated calls rarely get past the preconditions: random
        PINs verify no card. Earlier cases may have changed a PIN or blocked
        a card (they run last); later ones then meet a refusal, which is fine.
        """
        self.client.simulate_post("/api/common/v1/Finalize", json={})
        self.client.simulate_post("/api/common/v1/Initial", json={"name": TEST_SAM})
        self.client.simulate_post("/api/sam/v1/Verification", json={})
        readers = self.client.simulate_get("/api/sim/v1/Readers").json["readers"]
        cards = {c["id"]: c for c in self.client.simulate_get("/api/sim/v1/Cards").json["cards"]}
        hpc = next(r["card"] for r in readers if r["name"] == HPC_READER)
        pin = cards[hpc]["fields"].get("pin")
        self.client.simulate_post("/api/hpc/v1/Verification/Hpc", json={"pin": pin})


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The document as a running sim broker's app serves it, minus the excluded paths."""
    profile = dataclasses.replace(
        config.sim_profile(),
        data_dir=tmp_path / "data",
        admin_token_sha256=token_hash(ADMIN_TOKEN),
    )
    broker = assemble(profile)
    try:
        app = broker_app(ApiServices(broker, call_timeout=5.0))
        schema = schemathesis.openapi.from_wsgi(OPENAPI_PATH, app)
        yield Api(
            schema.exclude(path=list(EXCLUDED_PATHS)),
            falcon.testing.TestClient(app, headers={"Host": "localhost"}),
        )
    finally:
        broker.close()
        pykka.ActorRegistry.stop_all()


def fuzz(operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode) -> str | None:
    """Run one operation's generated cases; the failure report, if any.

    (schemathesis' own pytest integration cannot take a fixture's schema
    under this pytest: ``from_fixture`` reads the removed ``Item._nodeid``.)
    """
    headers = (
        {"Authorization": f"Bearer {ADMIN_TOKEN}"} if "/api/admin/" in operation.path else None
    )

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE, operation.label
        return None  # no parameter and no body: nothing to make invalid
    except (Exception, BaseExceptionGroup) as exc:  # FailureGroup is a BaseExceptionGroup
        return f"{operation.label} ({mode.value}): {exc}"
    return None


def test_every_operation_answers_as_documented(api: Api) -> None:
    """No 5xx; status, content type and body as the document says, valid data or not."""
    operations = []
    for result in api.schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) > 40
    operations.sort(key=lambda operation: operation.path.endswith(CARD_CHANGING))
    failures = []
    for operation in operations:
        for mode in MODES:
            api.prime()
            failure = fuzz(operation, mode)
            if failure is not None:
                failures.append(failure)
    assert not failures, "\n\n".join(failures)
