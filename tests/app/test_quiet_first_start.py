"""The shipped hardware example, first started on a host whose serial reader is not plugged in
(and where pcscd may not run): one warning for the absent reader, no error line, no traceback,
and Status shows the reader absent. A real ``serve --config`` process, its log read."""

from __future__ import annotations

import http.client
import json
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

from broker import config

NHI_BROKER = Path(sys.executable).parent / "nhi-broker"
EXAMPLE = config.PROFILES / "hardware.example.toml"
SHIPPED_TTY = 'url = "/dev/ttyUSB0"'
READY = re.compile(r"console is at https://localhost:(\d+)/console")


def example_with_reader_at(path: Path, tty: Path) -> Path:
    """The shipped example, its serial reader at ``tty`` (where nothing is, on any host)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count(SHIPPED_TTY) == 1  # the only change made to the shipped file
    path.write_text(text.replace(SHIPPED_TTY, f'url = "{tty}"'), encoding="utf-8")
    return path


def status(port: int, data_dir: Path) -> dict[str, Any]:
    trusted = ssl.create_default_context(cafile=str(data_dir / "tls" / "ca.crt"))
    connection = http.client.HTTPSConnection("localhost", port, context=trusted, timeout=30)
    try:
        connection.request("GET", "/api/common/v1/Status", body=b"{}")
        answer: dict[str, Any] = json.loads(connection.getresponse().read())
        return answer
    finally:
        connection.close()


def first_start(tmp_path: Path, log_format: str) -> tuple[list[str], dict[str, Any]]:
    """Serve the example until ready, read Status, stop it: its whole log, and the Status."""
    data_dir = tmp_path / "data"
    example = example_with_reader_at(tmp_path / "config.toml", tmp_path / "ttyUSB0")
    command = [str(NHI_BROKER), "serve", "--config", str(example), "--port", "0"]
    process = subprocess.Popen(
        [*command, "--data-dir", str(data_dir), "--log-format", log_format],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            ready = READY.search(line)
            if ready:
                answer = status(int(ready.group(1)), data_dir)
                break
        else:
            raise AssertionError("serve ended before it was ready:\n" + "".join(lines))
        process.send_signal(signal.SIGTERM)
        remaining, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
    assert process.returncode == 0, "".join(lines) + remaining
    return lines + remaining.splitlines(keepends=True), answer


def test_the_first_start_without_the_reader_logs_one_warning_and_no_error(
    tmp_path: Path,
) -> None:
    lines, answer = first_start(tmp_path, "json")
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert [e for e in events if e["level"] in ("error", "critical")] == []
    assert [e for e in events if "exception" in e] == []
    about_the_reader = [
        e["event"] for e in events if e["level"] == "warning" and "COM1" in json.dumps(e)
    ]
    assert about_the_reader == ["serial.unavailable"]
    assert (
        len([e for e in events if e["event"].startswith("pcsc.") and e["level"] == "warning"]) <= 1
    )
    assert answer["statusCode"] == 0
    assert answer["status"]["readersAbsent"] == ["COM1"]


def test_the_first_start_in_the_console_format_shows_no_traceback(tmp_path: Path) -> None:
    lines, answer = first_start(tmp_path, "console")
    text = "".join(lines)
    assert "Traceback" not in text
    assert "Error:" not in text  # an exception's name and message, as a traceback ends
    assert not [line for line in lines if "[error" in line or "[critical" in line], text
    assert answer["status"]["readersAbsent"] == ["COM1"]
