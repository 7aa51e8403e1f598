"""Logging: JSON lines from structlog and the standard library alike, secrets never shown."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
import structlog

from broker import logging as broker_logging

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def lines(stream: io.StringIO) -> Lines:
    """Parse what was logged so far: every line must be one JSON object."""
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


def test_structlog_events_are_json_lines_with_the_standard_fields(
    stream: io.StringIO, lines: Lines
) -> None:
    broker_logging.configure(stream=stream)
    structlog.get_logger("broker.test").bind(request_id="r-1").info("card.read", name="吳佳蓉")
    [line] = lines()
    assert line["event"] == "card.read"
    assert line["level"] == "info"
    assert line["logger"] == "broker.test"
    assert line["timestamp"].endswith("Z")
    assert line["request_id"] == "r-1"
    assert "吳佳蓉" in stream.getvalue()  # ensure_ascii=False: Chinese stays readable


@pytest.mark.parametrize("name", ["pykka", "waitress", "waitress.queue", "falcon"])
def test_standard_library_loggers_come_out_through_the_same_pipeline(
    stream: io.StringIO, lines: Lines, name: str
) -> None:
    broker_logging.configure(stream=stream)
    logging.getLogger(name).warning("queue depth %d", 7)
    [line] = lines()
    assert line["event"] == "queue depth 7"
    assert line["level"] == "warning"
    assert line["logger"] == name
    assert line["timestamp"].endswith("Z")


def test_configuring_twice_replaces_rather_than_duplicates(
    stream: io.StringIO, lines: Lines
) -> None:
    broker_logging.configure(stream=stream)
    broker_logging.configure(stream=stream)
    structlog.get_logger("t").info("once")
    logging.getLogger("pykka").info("once too")
    assert [line["event"] for line in lines()] == ["once", "once too"]


def test_json_is_the_default_off_a_terminal_and_pretty_output_can_be_asked_for(
    stream: io.StringIO,
) -> None:
    broker_logging.configure(json=False, stream=stream)
    structlog.get_logger("t").info("pretty", pin="123456")
    text = stream.getvalue()
    assert "pretty" in text
    assert "123456" not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


SECRET_NAMES = [
    "pin",
    "PIN",
    "newPin",
    "new_pin",
    "puk",
    "key",
    "private_key",
    "privateKey",
    "private-key",
    "secret",
    "password",
    "token",
    "Authorization",
    "content",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_every_secret_key_is_masked_at_any_depth(
    stream: io.StringIO, lines: Lines, name: str
) -> None:
    broker_logging.configure(stream=stream)
    structlog.get_logger("t").info(
        "request",
        **{name: "S3CR3T-0"},
        body={name: "S3CR3T-1", "inner": {"list": [{name: "S3CR3T-2"}, ({name: "S3CR3T-3"},)]}},
    )
    [line] = lines()
    assert "S3CR3T" not in stream.getvalue()
    assert line[name] == "***"
    assert line["body"][name] == "***"
    assert line["body"]["inner"]["list"][0][name] == "***"
    assert line["body"]["inner"]["list"][1][0][name] == "***"


def test_fields_that_merely_resemble_secret_names_are_kept(
    stream: io.StringIO, lines: Lines
) -> None:
    broker_logging.configure(stream=stream)
    structlog.get_logger("t").info("status", pin_status="verified", card_id="900000000711")
    [line] = lines()
    assert line["pin_status"] == "verified"
    assert line["card_id"] == "900000000711"


def test_secrets_in_standard_library_extra_are_masked(stream: io.StringIO, lines: Lines) -> None:
    broker_logging.configure(stream=stream)
    logging.getLogger("waitress").warning(
        "upload", extra={"password": "hunter2", "form": {"newPin": "654321", "kind": "sam"}}
    )
    [line] = lines()
    assert "hunter2" not in stream.getvalue()
    assert "654321" not in stream.getvalue()
    assert line["password"] == "***"
    assert line["form"] == {"newPin": "***", "kind": "sam"}


def test_redaction_leaves_the_callers_objects_untouched(stream: io.StringIO) -> None:
    broker_logging.configure(stream=stream)
    body = {"pin": "123456", "nested": [{"puk": "87654321"}]}
    structlog.get_logger("t").info("request", body=body)
    assert body == {"pin": "123456", "nested": [{"puk": "87654321"}]}


def test_pin_like_digits_of_a_sensitive_apdu_field_are_masked() -> None:
    event = {"event": "apdu", "apdu": "0020000106313233343536", "sensitive": True}
    assert broker_logging.redact_secrets(None, "trace", event)["apdu"] == "***"
    plain = {"event": "apdu", "apdu": "00 20 00 01 06 ***", "sensitive": True}
    assert broker_logging.redact_secrets(None, "trace", plain)["apdu"] == "00 20 00 01 06 ***"


def test_a_cyclic_value_is_masked_rather_than_crashing_the_log(
    stream: io.StringIO, lines: Lines
) -> None:
    broker_logging.configure(stream=stream)
    loop: list[Any] = []
    loop.append(loop)
    structlog.get_logger("t").info("odd", loop=loop)
    assert "***" in json.dumps(lines()[0]["loop"])


def _fail_holding_a_pin() -> None:
    pin = "123456"
    typed = pin  # a name the key-based redaction would not catch: only "no locals" hides it
    raise ValueError(f"PIN must be 6 to 8 digits, got {len(typed)}")


@pytest.mark.parametrize("as_json", [True, False])
def test_a_logged_exception_never_shows_the_locals_of_its_frames(
    stream: io.StringIO, as_json: bool
) -> None:
    broker_logging.configure(json=as_json, stream=stream)
    try:
        _fail_holding_a_pin()
    except ValueError:
        structlog.get_logger("t").exception("verify.failed")
        logging.getLogger("pykka").exception("actor crashed")
    text = stream.getvalue()
    assert "_fail_holding_a_pin" in text  # the traceback is there ...
    assert "123456" not in text  # ... its locals are not


def test_an_exception_becomes_a_structured_traceback_in_json(
    stream: io.StringIO, lines: Lines
) -> None:
    broker_logging.configure(stream=stream)
    try:
        _fail_holding_a_pin()
    except ValueError:
        logging.getLogger("waitress").exception("Socket error")
    [line] = lines()
    [exception] = line["exception"]
    assert exception["exc_type"] == "ValueError"
    assert all(frame.get("locals") is None for frame in exception["frames"])


def test_levels_below_the_configured_one_are_dropped(stream: io.StringIO, lines: Lines) -> None:
    broker_logging.configure(stream=stream, level="warning")
    log = structlog.get_logger("t")
    log.info("dropped")
    log.warning("kept")
    logging.getLogger("pykka").info("dropped too")
    logging.getLogger("pykka").error("kept too")
    assert [line["event"] for line in lines()] == ["kept", "kept too"]


def test_debug_level_keeps_debug_but_not_trace(stream: io.StringIO, lines: Lines) -> None:
    broker_logging.configure(stream=stream, level="debug")
    log = structlog.get_logger("t")
    log.debug("debug line")
    log.trace("trace line")
    broker_logging.trace(log, "helper trace line")
    logging.getLogger("pykka").log(broker_logging.TRACE, "stdlib trace line")
    assert not broker_logging.trace_enabled()
    assert [line["event"] for line in lines()] == ["debug line"]


def test_trace_level_renders_trace_lines_from_both_origins(
    stream: io.StringIO, lines: Lines
) -> None:
    broker_logging.configure(stream=stream, level="trace")
    log = structlog.get_logger("t").bind(request_id="r-2")
    assert broker_logging.trace_enabled()
    log.trace("direct")
    broker_logging.trace(log, "helper", n=1)
    logging.getLogger("pykka").log(broker_logging.TRACE, "stdlib")
    log.debug("debug")
    got = [(line["event"], line["level"]) for line in lines()]
    assert got == [
        ("direct", "trace"),
        ("helper", "trace"),
        ("stdlib", "trace"),
        ("debug", "debug"),
    ]
    assert lines()[1]["request_id"] == "r-2"


def test_a_later_configure_reaches_loggers_made_before_it(
    stream: io.StringIO, lines: Lines
) -> None:
    log = structlog.get_logger("made.early")
    broker_logging.configure(stream=stream, level="info")
    log.debug("dropped")
    broker_logging.configure(stream=stream, level="debug")
    log.debug("kept")
    assert [line["event"] for line in lines()] == ["kept"]


def test_capture_logs_sees_trace_events_with_their_level(stream: io.StringIO) -> None:
    broker_logging.configure(stream=stream, level="trace")
    with structlog.testing.capture_logs() as captured:
        broker_logging.trace(structlog.get_logger("t"), "apdu", direction="command")
    assert captured == [{"event": "apdu", "direction": "command", "log_level": "trace"}]


@pytest.mark.parametrize(
    ("level", "number"), [("trace", 5), ("DEBUG", 10), ("info", 20), ("warning", 30), (40, 40)]
)
def test_level_names_and_numbers_are_understood(level: str | int, number: int) -> None:
    assert broker_logging.level_number(level) == number


@pytest.mark.parametrize("level", ["verbose", 15])
def test_an_unknown_level_is_refused(level: str | int) -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        broker_logging.level_number(level)


def test_reset_turns_trace_off_and_removes_the_handler(stream: io.StringIO) -> None:
    handlers = list(logging.getLogger().handlers)
    broker_logging.configure(stream=stream, level="trace")
    broker_logging.reset()
    assert not broker_logging.trace_enabled()
    assert logging.getLogger().handlers == handlers
