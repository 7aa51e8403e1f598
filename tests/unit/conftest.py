"""Fixtures shared by the unit tests."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import structlog

from broker import logging as broker_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A stream to configure logging into; the previous configuration comes back after."""
    saved = structlog.get_config()
    root_level = logging.getLogger().level
    yield io.StringIO()
    broker_logging.reset()
    structlog.configure(**saved)
    logging.getLogger().setLevel(root_level)
