"""The broker's settings (``settings.json``), each change written atomically at once."""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from broker import formats
from broker.atomic import CorruptFileError, ensure_private_dir, remove_stale_temp_files, write_json
from broker.codes import Code
from broker.errors import BrokerError, InvalidParameterError

SETTINGS_FILE = "settings.json"
SETTINGS_VERSION = 1
SETTINGS_FORMAT = formats.Format("settings", SETTINGS_VERSION)
MAX_HOST_LENGTH = 253  # DNS limit on a full host name
MAX_NAME_LENGTH = 200
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SettingsError(BrokerError):
    """``settings.json`` is damaged; the broker cannot start from it."""

    # The broker refuses to initialise rather than forget its device id.
    default_code = Code.NOT_INITIALIZED


@dataclass(frozen=True)
class _State:
    """One complete version of the settings."""

    device_id: str
    default_pcsc_reader: str | None = None
    cors_hosts: tuple[str, ...] = ()
    last_device: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object ``settings.json`` holds."""
        return {
            "version": SETTINGS_VERSION,
            "deviceId": self.device_id,
            "defaultPcscReader": self.default_pcsc_reader,
            "corsHosts": list(self.cors_hosts),
            "lastDevice": self.last_device,
        }

    @classmethod
    def from_json(cls, obj: object, path: Path) -> _State:
        """Parse ``settings.json``; SettingsError naming the bad field."""
        if not isinstance(obj, dict) or obj.get("version") != SETTINGS_VERSION:
            raise SettingsError(f"{path} is not version {SETTINGS_VERSION} settings")
        device_id = obj.get("deviceId", str(uuid.uuid4()))
        if not _is_uuid(device_id):
            raise SettingsError(f"{path}: 'deviceId' is not a UUID")
        hosts = obj.get("corsHosts", [])
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise SettingsError(f"{path}: 'corsHosts' is not a list of text")
        for key in ("defaultPcscReader", "lastDevice"):
            if not isinstance(obj.get(key), str | None):
                raise SettingsError(f"{path}: {key!r} is neither text nor null")
        return cls(device_id, obj.get("defaultPcscReader"), tuple(hosts), obj.get("lastDevice"))


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


class Settings:
    """The persisted settings of one broker installation; thread-safe."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / SETTINGS_FILE
        self._lock = threading.Lock()
        ensure_private_dir(data_dir)
        # A writer killed mid-write leaves its temp file; no writer runs while we open.
        remove_stale_temp_files(self._path)
        self._state = _State(device_id="")
        self.migration: formats.Migration | None = None  # what the first load upgraded
        self.load()

    def load(self) -> None:
        """Read ``settings.json``; the first load makes and persists the device id.

        ``NewerFormatError`` if a newer release wrote it (it stays as it is).
        """
        with self._lock:
            try:
                obj, migration = formats.load(self._path, SETTINGS_FORMAT)
            except (CorruptFileError, formats.UnknownFormatError) as exc:
                raise SettingsError(str(exc)) from None
            self.migration = self.migration or migration
            if obj is None:
                obj = {"version": SETTINGS_VERSION}
            state = _State.from_json(obj, self._path)
            if state.to_json() != obj:  # new device id, or fields filled with defaults
                write_json(self._path, state.to_json())
            self._state = state

    @property
    def device_id(self) -> str:
        """A random UUID naming this installation to the data centre; never changes."""
        return self._state.device_id

    @property
    def default_pcsc_reader(self) -> str | None:
        """The PC/SC reader the local station uses, if one was chosen."""
        return self._state.default_pcsc_reader

    @property
    def cors_hosts(self) -> list[str]:
        """Origins allowed beyond localhost, as added (lowercase)."""
        return list(self._state.cors_hosts)

    @property
    def last_device(self) -> str | None:
        """The device of the last successful Initial."""
        return self._state.last_device

    def set_default_pcsc_reader(self, name: str | None) -> None:
        """Choose (or clear, with None) the default PC/SC reader."""
        checked = _check_name(name, "name")
        with self._lock:
            self._commit(replace(self._state, default_pcsc_reader=checked))

    def set_last_device(self, name: str | None) -> None:
        """Remember (or clear) the last connected device."""
        checked = _check_name(name, "name")
        with self._lock:
            self._commit(replace(self._state, last_device=checked))

    def add_cors_host(self, host: str) -> str:
        """Allow a host or origin; returns it normalised. Adding it twice changes nothing."""
        normalised = normalise_cors_host(host)
        with self._lock:
            if normalised not in self._state.cors_hosts:
                self._commit(replace(self._state, cors_hosts=(*self._state.cors_hosts, normalised)))
        return normalised

    def remove_cors_host(self, host: str) -> None:
        """Withdraw a host or origin; InvalidParameterError if it was not allowed."""
        normalised = host.lower() if isinstance(host, str) else host
        with self._lock:
            if normalised not in self._state.cors_hosts:
                raise InvalidParameterError(f"host {_shown(host)} is not among the allowed hosts")
            hosts = tuple(h for h in self._state.cors_hosts if h != normalised)
            self._commit(replace(self._state, cors_hosts=hosts))

    def _commit(self, state: _State) -> None:
        """Write first, then adopt: memory never runs ahead of the disk."""
        write_json(self._path, state.to_json())
        self._state = state


def normalise_cors_host(host: object) -> str:
    """A host name or an http(s) origin, lowercase; InvalidParameterError naming ``host``."""
    if not isinstance(host, str):
        raise InvalidParameterError("host must be text")
    if not host:
        raise InvalidParameterError("host is empty")
    if any(c.isspace() for c in host) or _CONTROL.search(host):
        raise InvalidParameterError(f"host {_shown(host)} must not contain whitespace")
    if "*" in host:
        raise InvalidParameterError(f"host {_shown(host)} must not contain wildcards")
    value = host.lower()
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "", value
    elif scheme not in ("http", "https"):
        raise InvalidParameterError(f"host {_shown(host)}: the scheme must be http or https")
    if any(c in rest for c in "/?#@\\"):
        raise InvalidParameterError(
            f"host {_shown(host)} must be a host name or an origin, without a path"
        )
    name, colon, port = rest.partition(":")
    if colon and not scheme:
        raise InvalidParameterError(f"host {_shown(host)}: a port needs a scheme (https://…)")
    if colon and not (port.isdigit() and port.isascii() and 0 < int(port) < 65536):
        raise InvalidParameterError(f"host {_shown(host)}: the port must be 1 to 65535")
    if len(name) > MAX_HOST_LENGTH or not _HOST_NAME.fullmatch(name):
        raise InvalidParameterError(f"host {_shown(host)} is not a valid host name")
    return value


def _check_name(name: object, field: str) -> str | None:
    """A reader or device name: non-empty text without control characters, or None."""
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(f"{field} must be non-empty text or null")
    if len(name) > MAX_NAME_LENGTH or _CONTROL.search(name):
        raise InvalidParameterError(
            f"{field} must be at most {MAX_NAME_LENGTH} characters, without control characters"
        )
    return name


def _shown(value: object) -> str:
    """The caller's value for a message, cut short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"
