"""The simulated cloud's state, one JSON file in the kit's data directory.

Written whole and atomically (``broker.atomic``) after every call that
changes it, so a restart of the simulator finds every visit, sequence
number and spent client random where it left them. Version 1 named its
format ``"format": "nhi-broker/kit-cloud/1"``; version 2 carries
``"version"`` as every stored file does (``broker.formats``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import structlog

from broker import formats
from broker.atomic import ensure_private_dir, remove_stale_temp_files, write_json
from nhi_kit.cloud.history import SEEDS, seed_of

VERSION = 2
LEGACY_FORMAT = "nhi-broker/kit-cloud/1"  # version 1's marker
STATE_FILE = "cloud-state.json"
JsonDict = dict[str, Any]
log = structlog.get_logger("nhi_kit.cloud.store")


def _legacy_version(state: JsonDict) -> int | None:
    return 1 if state.get("format") == LEGACY_FORMAT else None


def _from_version_1(state: JsonDict) -> JsonDict:
    """Version 1 → 2: the state as it was, its marker now the version."""
    return {key: value for key, value in state.items() if key != "format"}


STATE_FORMAT = formats.Format(
    "cloud simulator's state", VERSION, {1: _from_version_1}, legacy=_legacy_version
)


def card_record(card_id: str) -> JsonDict:
    """A card's record at first start."""
    seed = seed_of(card_id)
    return {
        "treatmentsLeft": seed.treatments_left,
        "cardValidity": seed.card_validity,
        "visits": [copy.deepcopy(v) for v in seed.visits],
    }


def seeded() -> JsonDict:
    """The state at first start: the kit people's cards as ``history`` describes them."""
    return {
        "version": VERSION,
        "cards": {card_id: card_record(card_id) for card_id in SEEDS},
        "sequences": {},  # "card|YYYMMDD" → the last sequence number given that day
        "hospitals": {},  # hospital id → {"treatmentNumbers": last number given}
        "randoms": {},  # clientRandom → {"expires", "endpoint", "visit"}
        "accessTokens": {},  # tele-medicine access token → {"patientId", "hospitalId"}
    }


class CloudStore:
    """The state in memory, saved to ``directory`` (or nowhere when None).

    ``NewerFormatError`` if a newer release wrote the state (it stays as it is).
    """

    def __init__(self, directory: Path | None) -> None:
        self._path = directory / STATE_FILE if directory is not None else None
        self.migration: formats.Migration | None = None  # what opening upgraded
        self.state = self._load()

    def _load(self) -> JsonDict:
        if self._path is None:
            return seeded()
        ensure_private_dir(self._path.parent)
        remove_stale_temp_files(self._path)  # before anything writes: no writer runs yet
        try:
            state, self.migration = formats.load(self._path, STATE_FORMAT)
        except formats.UnknownFormatError:
            log.warning("cloud.state_reset", path=str(self._path), reason="no format version")
            return seeded()
        return seeded() if state is None else state

    def save(self) -> None:
        """Write the state (atomically: a crash leaves the old or the new file)."""
        if self._path is not None:
            write_json(self._path, self.state)

    def card(self, card_id: str) -> JsonDict:
        """A card's mutable record (treatments left, validity, visits)."""
        cards = self.state["cards"]
        if card_id not in cards:  # a card the state file predates
            cards[card_id] = card_record(card_id)
        record: JsonDict = cards[card_id]
        return record

    def visits(self, card_id: str) -> list[JsonDict]:
        """A card's visits, oldest first."""
        visits: list[JsonDict] = self.card(card_id)["visits"]
        return visits

    def next_sequence(self, card_id: str, day: str) -> int:
        """The card's next sequence number of ``day`` (never reused, even after a rollback)."""
        key = f"{card_id}|{day}"
        number = int(self.state["sequences"].get(key, 0)) + 1
        self.state["sequences"][key] = number
        return number

    def next_treatment_number(self, hospital_id: str) -> int:
        """The hospital's next treatment number (就醫識別碼), counted over all its cards."""
        hospital = self.state["hospitals"].setdefault(hospital_id, {"treatmentNumbers": 0})
        hospital["treatmentNumbers"] += 1
        number: int = hospital["treatmentNumbers"]
        return number
