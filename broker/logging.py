"""Structured logs: one JSON line per event (pretty on a terminal), secrets redacted.

structlog events and the standard library's records (pykka, waitress,
falcon) get the same fields (level, timestamp, logger name, the request's
context), the same masking of secrets and the same renderer, and meet in one
stream: structlog's in its own chain, the library's through the root
handler's ``ProcessorFormatter``. Below ``debug`` sits
``trace`` (APDUs): ``trace(log, "event", ...)`` or ``log.trace(...)``, on only
when configured with ``level="trace"``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from broker.errors import BrokerError

TRACE = 5  # below logging.DEBUG (10): one line per APDU
LEVELS = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
# Key names compared lower-case with "_" and "-" removed; "content" is an
# uploaded .SAM file.
SECRET_KEYS = frozenset(
    {
        "pin",
        "newpin",
        "puk",
        "key",
        "privatekey",
        "secret",
        "password",
        "token",
        "authorization",
        "content",
    }
)
MASK = "***"
_DIGIT_RUN = re.compile(r"\d{6,}")  # a 6-8 digit PIN, or its ASCII in hex
_MAX_DEPTH = 16  # deeper (or cyclic) values are masked whole: fail closed

logging.addLevelName(TRACE, "TRACE")


class _TraceSwitch:
    """Whether trace lines are wanted; read on every APDU, so a bare attribute."""

    on = False


TRACING = _TraceSwitch()
_installed: list[logging.Handler] = []  # the root handler configure() added


def trace_enabled() -> bool:
    """Whether ``configure`` asked for trace lines."""
    return TRACING.on


def trace(logger: Any, event: str, **fields: Any) -> None:
    """Log ``event`` at trace level; a flag test and nothing else when trace is off."""
    if TRACING.on:
        logger.trace(event, **fields)


@functools.lru_cache(maxsize=4096)
def _names_secret(name: str) -> bool:
    return name.lower().replace("_", "").replace("-", "") in SECRET_KEYS


def is_secret_key(name: object) -> bool:
    """Whether a field name names a secret (``newPin``, ``private-key``, ``PUK`` …)."""
    return isinstance(name, str) and _names_secret(name)


_PLAIN = (str, int, float, bool, type(None))  # the values of almost every field: nothing inside


def _redacted(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` with secret-named entries masked in every nested dict and list."""
    if depth > _MAX_DEPTH:
        return MASK
    if isinstance(value, Mapping):
        return {k: MASK if is_secret_key(k) else _redacted(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_redacted(v, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    return value


def redact_secrets(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Mask secret-named values at any depth, and PIN-like digits of a sensitive APDU."""
    for name, value in list(event.items()):
        if is_secret_key(name):
            event[name] = MASK
        elif type(value) not in _PLAIN and isinstance(value, Mapping | list | tuple):
            # copied, not edited in place: the caller's objects stay intact
            event[name] = _redacted(value)
    apdu = event.get("apdu")
    if event.get("sensitive") and isinstance(apdu, str):
        event["apdu"] = _DIGIT_RUN.sub(MASK, apdu)
    return event


def level_number(level: str | int) -> int:
    """``"trace"`` → 5, ``"info"`` → 20; numbers pass through; ValueError otherwise."""
    if isinstance(level, int):
        if level not in LEVELS.values():
            raise ValueError(f"unknown log level {level}")
        return level
    try:
        return LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}") from None


class _LineSink:
    """Where structlog's rendered lines go: the root handler's stream, under its lock.

    structlog events are rendered in structlog's own chain and written here
    directly, not re-made as standard-library records (that round trip was
    most of a line's cost). One lock with the handler, so lines of both
    origins never interleave.
    """

    def __init__(self, name: str, handler: logging.StreamHandler[TextIO]) -> None:
        self.name = name  # read by add_logger_name
        self._handler = handler

    def write(self, line: str) -> None:
        """One rendered line."""
        self._handler.acquire()
        try:
            stream = self._handler.stream
            stream.write(line + "\n")
            stream.flush()
        finally:
            self._handler.release()

    # structlog calls the method named after the level; every level writes the same way
    trace = debug = info = msg = warning = warn = error = critical = fatal = exception = write


class _SinkFactory:
    """The sink for ``structlog.get_logger(name)``."""

    def __init__(self, handler: logging.StreamHandler[TextIO]) -> None:
        self._handler = handler

    def __call__(self, *args: Any) -> _LineSink:
        """``args`` is the logger's name, if it was given one."""
        return _LineSink(str(args[0]) if args else "broker", self._handler)


def _emit_trace(self: Any, event: str, **fields: Any) -> Any:
    """The ``trace`` method of bound loggers when trace is on."""
    return self._proxy_to_logger("trace", event, **fields)


def _skip_trace(_self: Any, _event: str, **_fields: Any) -> None:
    """The ``trace`` method of bound loggers when trace is off."""


def _bound_logger_class(level: int) -> type[Any]:
    """structlog's level-filtering bound logger, plus a ``trace`` method."""
    base = structlog.make_filtering_bound_logger(logging.NOTSET if level <= TRACE else level)
    method = _emit_trace if level <= TRACE else _skip_trace
    return type("BrokerBoundLogger", (base,), {"trace": method})


_CONTEXT: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "broker_log_context", default=None
)


@contextlib.contextmanager
def bound(fields: Mapping[str, Any]) -> Iterator[None]:
    """Within the block, every line this thread logs carries ``fields`` (a request's context).

    One context variable holding the whole mapping: entering and leaving cost
    a set and a reset, whatever the number of fields.
    """
    token = _CONTEXT.set(fields)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def merge_context(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Add the bound context's fields; the event's own fields win."""
    context = _CONTEXT.get()
    if context:
        for name, value in context.items():
            event.setdefault(name, value)
    return event


def _enrich() -> list[structlog.types.Processor]:
    """What every event gets, whichever library logged it."""
    return [
        merge_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _render(as_json: bool, colors: bool) -> list[structlog.types.Processor]:
    """Exceptions, redaction and the renderer, shared by both origins."""
    if not as_json:
        # plain_traceback prints no locals (a PIN in a local must not reach the log)
        console = structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=structlog.dev.plain_traceback
        )
        return [redact_secrets, console]
    no_locals = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    return [
        structlog.processors.ExceptionRenderer(no_locals),
        redact_secrets,  # after the traceback dict, so nothing it adds escapes
        structlog.processors.JSONRenderer(ensure_ascii=False),
    ]


class _OrdinaryOutcomes(logging.Filter):
    """Drops pykka's traceback of a ``BrokerError`` an actor answered an ask with.

    pykka logs every exception it hands back to an asking caller; a domain error
    (1500, 1510 …) is an answer, which the API's call line already reports.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """False for pykka's record of a domain error returned to its caller."""
        if not record.name.startswith("pykka") or not record.exc_info:
            return True
        return not isinstance(record.exc_info[1], BrokerError)


def configure(
    *, json: bool | None = None, level: str | int = "info", stream: TextIO | None = None
) -> None:
    """Send every log line of the process to ``stream`` (stderr); JSON unless a terminal.

    Safe to call again: the previous configuration is replaced, not stacked.
    """
    number = level_number(level)
    out = sys.stderr if stream is None else stream
    as_json = not out.isatty() if json is None else json
    reset()
    handler = logging.StreamHandler(out)
    handler.setLevel(number)
    handler.addFilter(_OrdinaryOutcomes())
    meta = structlog.stdlib.ProcessorFormatter.remove_processors_meta
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_enrich(), structlog.stdlib.ExtraAdder()],
            processors=[meta, *_render(as_json, colors=out.isatty())],
        )
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(number)
    _installed.append(handler)
    structlog.configure(
        processors=[*_enrich(), *_render(as_json, colors=out.isatty())],
        wrapper_class=_bound_logger_class(number),
        logger_factory=_SinkFactory(handler),
        # not cached: a later configure() (tests) must reach module-level loggers
        cache_logger_on_first_use=False,
    )
    TRACING.on = number <= TRACE


def reset() -> None:
    """Undo ``configure``: remove its handler, structlog defaults, trace off."""
    root = logging.getLogger()
    while _installed:
        root.removeHandler(_installed.pop())
    root.setLevel(logging.WARNING)
    structlog.reset_defaults()
    TRACING.on = False
