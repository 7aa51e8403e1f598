"""Fixtures of the command tests: a user's empty HOME, a data directory as serve leaves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from nhi_broker.serve import certificate_paths


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME: no browser databases, no Firefox profiles."""
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data directory whose CA ``serve`` made."""
    data = tmp_path / "data"
    certificate_paths(data)
    return data
