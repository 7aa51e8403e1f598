"""The configuration file's schema: every table and key a broker TOML file may hold.

msgspec validates it because its typed Structs are strict by default (no ``"5066"`` for
5066, no ``"false"`` for false), refuse unknown keys with ``forbid_unknown_fields``, and
name the failing key path, in one small compiled dependency.
``config/hardware.example.toml`` explains every key; ``broker/config.py`` turns a
validated file into the configuration the broker runs.
"""

from __future__ import annotations

import difflib
import re
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]  # 0: pick a free port
Seconds = Annotated[float, msgspec.Meta(gt=0)]
Sha256 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]  # `nhi-broker token` prints it
StationName = Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9_.-]+$")]
SerialName = Annotated[str, msgspec.Meta(pattern="^COM[0-9]+$")]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
# A DNS name (labels of letters, digits and inner hyphens) or an IPv4/IPv6 address.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_PATTERN = rf"^({_LABEL}([.]{_LABEL})*|[0-9A-Fa-f:.]+)$"
HostName = Annotated[str, msgspec.Meta(pattern=HOST_PATTERN, max_length=253)]
DcUrl = Annotated[str, msgspec.Meta(pattern="^(sim|https?://.+)$")]  # sim: the kit's DC


class Table(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A TOML table: unknown keys are errors, so a typo cannot be silently ignored."""


class ServerTable(Table):
    """``[server]``: where the Web API listens and where the broker keeps its data."""

    host: NonEmpty = "127.0.0.1"
    port: Port = 5066
    tls: bool = True
    data_dir: NonEmpty | None = None
    admin_token_sha256: Sha256 | None = None
    names: tuple[HostName, ...] = ()  # how LAN stations reach this host (in its certificate)


class PcscTable(Table):
    """``[pcsc]``: whether to watch pcscd's readers."""

    enabled: bool = False


class DcTable(Table):
    """``[dc]``: the data centre and the keys the broker trusts it with."""

    url: DcUrl = "sim"
    timeout: Seconds = 5.0
    ca_file: NonEmpty | None = None
    grant_public_key: NonEmpty | None = None  # PEM: the DC's key that signs .SAM files


class StationTable(Table):
    """One ``[[stations]]`` entry."""

    name: StationName
    token_sha256: Sha256 | None = None
    devices: tuple[NonEmpty, ...] | None = None
    serial: SerialName | None = None
    hc_reader: NonEmpty | None = None
    hca_reader: NonEmpty | None = None


class SerialTable(Table):
    """One ``[[serial]]`` entry: a serial NHI reader's name, port URL and PIN-pad wait."""

    name: SerialName
    url: NonEmpty
    pin_pad_timeout: Seconds = 30.0


class RestartTable(Table):
    """``[restart]``: the supervisor's restart policy."""

    max_restarts: Annotated[int, msgspec.Meta(ge=0)] = 5
    window: Seconds = 60.0
    backoff_initial: Seconds = 0.05
    backoff_max: Seconds = 5.0


class SerialSlotsTable(Table):
    """``[sim.serial.COMn]``: the card id in each slot of an emulated serial reader."""

    SAM: NonEmpty | None = None
    HPC: NonEmpty | None = None
    HC: NonEmpty | None = None


class SimTable(Table):
    """``[sim]``: the virtual kit's readers and cards (the sim profile)."""

    readers: dict[str, str] = {}  # reader → card id; "" is an empty reader
    serial: dict[SerialName, SerialSlotsTable] = {}
    cloud_sams: tuple[NonEmpty, ...] = ()
    last_device: NonEmpty | None = None


class ConfigFile(Table):
    """A whole configuration file."""

    profile: Literal["sim", "hardware"] = "hardware"
    server: ServerTable = msgspec.field(default_factory=ServerTable)
    pcsc: PcscTable = msgspec.field(default_factory=PcscTable)
    dc: DcTable = msgspec.field(default_factory=DcTable)
    stations: tuple[StationTable, ...] = msgspec.field(
        default_factory=lambda: (StationTable(name="local"),)
    )
    serial: tuple[SerialTable, ...] = ()
    restart: RestartTable = msgspec.field(default_factory=RestartTable)
    sim: SimTable = msgspec.field(default_factory=SimTable)


# What a regex means to a person who mistyped a value.
PATTERN_WORDS = {
    "^[0-9a-f]{64}$": "64 lowercase hex digits (the hash `nhi-broker token` prints)",
    "^[A-Za-z0-9_.-]+$": "a name of letters, digits, '.', '_' or '-'",
    "^COM[0-9]+$": "a serial reader name such as COM1",
    "^(sim|https?://.+)$": "'sim' or an https:// URL",
    HOST_PATTERN: "a host name or an IP address",
}
TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "array": "an array",
    "object": "a table",
}
MESSAGE = re.compile(
    r"^(?P<what>.*?)(?: - at `(?P<at>[^`]*)`(?: in `(?P<within>[^`]*)`)?)?$", re.DOTALL
)
SEGMENT = re.compile(r"\.(\w+)|\[(\d+)\]|\[\.\.\.\]")


def describe(error: msgspec.ValidationError) -> tuple[str, str]:
    """The key path (``stations[1].hc_reader``) and what was expected there."""
    match = MESSAGE.match(str(error))
    assert match is not None  # the pattern matches any text
    what, at, within = match["what"], match["at"] or "$", match["within"]
    path = (within or at).removeprefix("$")
    if unknown := re.fullmatch(r"Object contains unknown field `(.+)`", what):
        return _unknown_key(path, unknown[1])
    if missing := re.fullmatch(r"Object missing required field `(.+)`", what):
        return _key(f"{path}.{missing[1]}"), "required key is missing"
    if within:
        return _key(path) + " (a key)", _expected(what, path)
    return _key(path), _expected(what, path)


def _unknown_key(path: str, name: str) -> tuple[str, str]:
    known = [f.name for f in msgspec.structs.fields(_type_at(path))]
    hint = _hint(name, known, top_level=not path)
    return _key(f"{path}.{name}"), f"unknown key{hint}; expected one of {', '.join(known)}"


def _hint(name: str, known: list[str], *, top_level: bool) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return _elsewhere(name) if top_level else ""  # a top-level key may belong in a table


def _elsewhere(name: str) -> str:
    """For a top-level key that belongs in a table (``port`` above ``[server]``): which."""
    for table in msgspec.structs.fields(ConfigFile):
        kind = _bare(table.type)
        if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            close = difflib.get_close_matches(name, [f.name for f in msgspec.structs.fields(kind)])
            if close:
                return f" (did you mean {close[0]!r} in [{table.name}]?)"
    return ""


def _expected(what: str, path: str) -> str:
    if enum := re.fullmatch(r"Invalid enum value (.+)", what):
        choices = ", ".join(repr(c) for c in get_args(_type_at(path)))
        return f"expected one of {choices}, got {enum[1]}"
    if what == "Expected `array`, got `object`" and path in {".stations", ".serial"}:
        name = path.removeprefix(".")
        return f"expected an array of tables: write [[{name}]], not [{name}]"
    if regex := re.fullmatch(r"Expected `str` matching regex '(.+)'", what):
        return "expected " + PATTERN_WORDS.get(regex[1], f"a string matching {regex[1]}")
    words = re.sub(r"`([^`]+)`", lambda m: _type_words(m[1]), what)
    return words[0].lower() + words[1:]


def _type_words(types: str) -> str:
    names = [t for t in types.split(" | ") if t != "null"]  # TOML has no null: leave the key out
    return " or ".join(TYPE_WORDS.get(t, t) for t in names)


def _key(path: str) -> str:
    return path.removeprefix(".").replace("[...]", ".*") or "(the file)"


def _type_at(path: str) -> Any:
    """The schema's type at a msgspec path, Annotated and ``| None`` removed."""
    current: Any = ConfigFile
    for name, _index in SEGMENT.findall(path):
        if name and isinstance(current, type) and issubclass(current, msgspec.Struct):
            current = next(f.type for f in msgspec.structs.fields(current) if f.name == name)
        else:  # an array item or a table's value
            current = get_args(current)[-1 if get_origin(current) is dict else 0]
        current = _bare(current)
    return current


def _bare(kind: Any) -> Any:
    while get_origin(kind) is Annotated or (get_origin(kind) in {Union, UnionType}):
        kind = next(a for a in get_args(kind) if a is not type(None))
    return kind
