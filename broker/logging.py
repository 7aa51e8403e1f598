"""Structured logs: JSON lines (pretty on a terminal), secrets redacted.

Every log call goes through ``redact_secrets`` so a PIN, PUK or key passed
by mistake is masked before any renderer sees it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SECRET_KEYS = frozenset({"pin", "newpin", "puk", "key", "private_key", "secret", "password"})
MASK = "***"


def redact_secrets(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Mask values whose key names a secret (case-insensitive, any nesting of dicts)."""
    for name, value in list(event.items()):
        if name.lower().replace("_", "") in SECRET_KEYS or name.lower() in SECRET_KEYS:
            event[name] = MASK
        elif isinstance(value, dict):
            event[name] = redact_secrets(_logger, _method, dict(value))
    return event


def configure(*, json: bool | None = None, level: int = logging.INFO) -> None:
    """Configure structlog and the standard library; JSON unless stderr is a terminal."""
    as_json = (not sys.stderr.isatty()) if json is None else json
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if as_json
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
