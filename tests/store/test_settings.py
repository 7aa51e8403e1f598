"""Settings: persisted at once, CORS hosts validated, a stable device id."""

from __future__ import annotations

import json
import stat
import threading
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.codes import Code
from broker.errors import InvalidParameterError
from broker.settings import SETTINGS_FILE, Settings, SettingsError, normalise_cors_host

LABELS = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
HOST_NAMES = st.lists(LABELS, min_size=1, max_size=4).map(".".join)


def on_disk(data_dir: Path) -> dict[str, object]:
    """``settings.json`` as JSON."""
    obj: dict[str, object] = json.loads((data_dir / SETTINGS_FILE).read_bytes())
    return obj


def test_fresh_settings_have_no_reader_no_extra_hosts_and_a_device_id(tmp_path: Path) -> None:
    settings = Settings(tmp_path)
    assert settings.default_pcsc_reader is None
    assert settings.cors_hosts == []
    assert settings.last_device is None
    assert str(uuid.UUID(settings.device_id)) == settings.device_id
    assert on_disk(tmp_path)["deviceId"] == settings.device_id  # persisted on first load


def test_the_device_id_never_changes(tmp_path: Path) -> None:
    first = Settings(tmp_path)
    first.set_last_device("COM1")
    again = Settings(tmp_path)
    again.load()
    assert again.device_id == first.device_id
    assert Settings(tmp_path / "other").device_id != first.device_id


def test_every_setting_persists_across_instances(tmp_path: Path) -> None:
    settings = Settings(tmp_path)
    settings.set_default_pcsc_reader("Virtual PCD 00 00")
    settings.add_cors_host("www.nhi.gov.tw")
    settings.add_cors_host("https://his.example.org:8443")
    settings.set_last_device("901000000047")
    reopened = Settings(tmp_path)
    assert reopened.default_pcsc_reader == "Virtual PCD 00 00"
    assert reopened.cors_hosts == ["www.nhi.gov.tw", "https://his.example.org:8443"]
    assert reopened.last_device == "901000000047"


def test_each_change_is_on_disk_as_soon_as_the_call_returns(tmp_path: Path) -> None:
    settings = Settings(tmp_path)
    settings.set_default_pcsc_reader("Reader A")
    assert on_disk(tmp_path)["defaultPcscReader"] == "Reader A"
    settings.add_cors_host("a.example")
    assert on_disk(tmp_path)["corsHosts"] == ["a.example"]
    settings.remove_cors_host("a.example")
    assert on_disk(tmp_path)["corsHosts"] == []
    settings.set_last_device(None)
    assert on_disk(tmp_path)["lastDevice"] is None


def test_the_file_is_the_owners_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "new"
    Settings(data_dir)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / SETTINGS_FILE).stat().st_mode) == 0o600


def test_the_default_reader_can_be_cleared(tmp_path: Path) -> None:
    settings = Settings(tmp_path)
    settings.set_default_pcsc_reader("Reader A")
    settings.set_default_pcsc_reader(None)
    assert Settings(tmp_path).default_pcsc_reader is None


@pytest.mark.parametrize("name", ["", "   ", "bad\nname", "x" * 201, 3])
def test_a_bad_reader_or_device_name_is_refused_naming_the_field(
    tmp_path: Path, name: object
) -> None:
    settings = Settings(tmp_path)
    for setter in (settings.set_default_pcsc_reader, settings.set_last_device):
        with pytest.raises(InvalidParameterError, match="name") as caught:
            setter(name)  # type: ignore[arg-type]
        assert caught.value.code == Code.INVALID_PARAMETER
    assert Settings(tmp_path).default_pcsc_reader is None


def test_load_picks_up_another_instances_change(tmp_path: Path) -> None:
    mine, theirs = Settings(tmp_path), Settings(tmp_path)
    theirs.set_last_device("COM1")
    mine.load()
    assert mine.last_device == "COM1"


# --- CORS hosts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "stored"),
    [
        ("www.nhi.gov.tw", "www.nhi.gov.tw"),
        ("WWW.NHI.GOV.TW", "www.nhi.gov.tw"),
        ("https://www.nhi.gov.tw", "https://www.nhi.gov.tw"),
        ("HTTPS://WWW.NHI.GOV.TW:8443", "https://www.nhi.gov.tw:8443"),
        ("http://192.168.1.10:3000", "http://192.168.1.10:3000"),
        ("his-server", "his-server"),
    ],
)
def test_a_host_name_or_origin_is_added_in_lowercase(
    tmp_path: Path, host: str, stored: str
) -> None:
    settings = Settings(tmp_path)
    assert settings.add_cors_host(host) == stored
    assert Settings(tmp_path).cors_hosts == [stored]


def test_adding_a_host_twice_keeps_one(tmp_path: Path) -> None:
    settings = Settings(tmp_path)
    settings.add_cors_host("www.nhi.gov.tw")
    settings.add_cors_host("WWW.nhi.gov.tw")
    assert Settings(tmp_path).cors_hosts == ["www.nhi.gov.tw"]


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("", "host is empty"),
        (" www.nhi.gov.tw", "whitespace"),
        ("www.nhi .gov.tw", "whitespace"),
        ("www.nhi.gov.tw\t", "whitespace"),
        ("*.nhi.gov.tw", "wildcards"),
        ("https://*", "wildcards"),
        ("www.nhi.gov.tw/path", "without a path"),
        ("https://www.nhi.gov.tw/", "without a path"),
        ("https://www.nhi.gov.tw?x=1", "without a path"),
        ("https://user@www.nhi.gov.tw", "without a path"),
        ("ftp://www.nhi.gov.tw", "scheme must be http or https"),
        ("javascript://x", "scheme must be http or https"),
        ("www.nhi.gov.tw:8443", "a port needs a scheme"),
        ("https://www.nhi.gov.tw:0", "port must be 1 to 65535"),
        ("https://www.nhi.gov.tw:65536", "port must be 1 to 65535"),
        ("https://www.nhi.gov.tw:", "port must be 1 to 65535"),
        ("https://", "not a valid host name"),
        ("bad_host.example", "not a valid host name"),
        ("-lead.example", "not a valid host name"),
        ("trailing.example.", "not a valid host name"),
        ("健保.tw", "not a valid host name"),
        ("a" * 64 + ".example", "not a valid host name"),
    ],
)
def test_a_bad_cors_host_is_refused_naming_host(tmp_path: Path, host: str, reason: str) -> None:
    settings = Settings(tmp_path)
    with pytest.raises(InvalidParameterError) as caught:
        settings.add_cors_host(host)
    assert caught.value.code == Code.INVALID_PARAMETER
    assert "host" in caught.value.detail
    assert reason in caught.value.detail
    assert Settings(tmp_path).cors_hosts == []


def test_a_cors_host_that_is_not_text_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="host must be text"):
        normalise_cors_host(["www.nhi.gov.tw"])


@given(name=HOST_NAMES, scheme=st.sampled_from(["", "http://", "https://"]))
def test_any_plain_host_name_is_accepted(name: str, scheme: str) -> None:
    assert normalise_cors_host(scheme + name.upper()) == scheme + name


@given(name=HOST_NAMES, cut=st.integers(0, 40), space=st.sampled_from([" ", "\t", "\n", "\u3000"]))
def test_whitespace_anywhere_is_refused(name: str, cut: int, space: str) -> None:
    with pytest.raises(InvalidParameterError, match="host"):
        normalise_cors_host(name[:cut] + space + name[cut:])


def test_removing_a_host_that_is_absent_is_an_invalid_parameter(tmp_path: Path) -> None:
    settings = Settings(tmp_path)
    settings.add_cors_host("a.example")
    with pytest.raises(InvalidParameterError, match=r"host 'b\.example' is not among") as caught:
        settings.remove_cors_host("b.example")
    assert caught.value.code == Code.INVALID_PARAMETER
    settings.remove_cors_host("A.EXAMPLE")
    assert Settings(tmp_path).cors_hosts == []


def test_concurrent_additions_lose_no_host(tmp_path: Path) -> None:
    settings = Settings(tmp_path)
    hosts = [f"h{i}.example" for i in range(16)]
    threads = [threading.Thread(target=settings.add_cors_host, args=(h,)) for h in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(Settings(tmp_path).cors_hosts) == sorted(hosts)


# --- a damaged file --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff", "not UTF-8"),
        (b"[]", "names no format version"),
        (b'{"version": 1, "deviceId": "nope"}', "'deviceId' is not a UUID"),
        (b'{"version": 1, "corsHosts": "a.example"}', "'corsHosts' is not a list"),
        (b'{"version": 1, "lastDevice": 5}', "'lastDevice' is neither text nor null"),
    ],
)
def test_a_damaged_settings_file_is_an_error_and_is_left_alone(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    (tmp_path / SETTINGS_FILE).write_bytes(content)
    with pytest.raises(SettingsError, match=reason):
        Settings(tmp_path)
    assert (tmp_path / SETTINGS_FILE).read_bytes() == content  # the device id is not lost


def test_an_older_file_without_a_device_id_gets_one_that_then_stays(tmp_path: Path) -> None:
    (tmp_path / SETTINGS_FILE).write_text('{"version": 1, "lastDevice": "COM1"}')
    made = Settings(tmp_path).device_id
    assert Settings(tmp_path).device_id == made
    assert Settings(tmp_path).last_device == "COM1"
