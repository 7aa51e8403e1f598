"""Format versions of the stored JSON files: older ones upgraded in place, newer ones refused.

Each stored file carries ``"version": N``. ``load`` reads one: the current
version as it is; an older one upgraded step by step (``upgrades[n]`` turns
version n into n + 1), written back atomically, the file as it was kept beside
it as ``<name>.v<n>`` (a way back to the release that wrote it); a newer one
refused, and never written: the release that wrote it may run again.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.atomic import read_json, write_atomic, write_json

JsonObject = dict[str, Any]
Upgrade = Callable[[JsonObject], JsonObject]


class FormatError(ValueError):
    """A stored file's format version is not one this release reads."""


class NewerFormatError(FormatError):
    """A newer release wrote the file; this one leaves it as it is."""


class UnknownFormatError(FormatError):
    """The file names no format version at all (damaged, or another program's file)."""


def _no_legacy(_obj: JsonObject) -> int | None:
    return None


@dataclass(frozen=True)
class Format:
    """What a stored file holds (``what``, for messages), its version, and the way up to it."""

    what: str
    version: int
    upgrades: Mapping[int, Upgrade] = field(default_factory=dict)
    # The version of a file written before it carried "version" (another marker), if any.
    legacy: Callable[[JsonObject], int | None] = _no_legacy

    def __post_init__(self) -> None:
        missing = [n for n in range(1, self.version) if n not in self.upgrades]
        if missing:
            raise ValueError(f"{self.what}: no upgrade from version {missing}")

    def version_of(self, obj: object) -> int | None:
        """The file's version, or None if it names none."""
        if not isinstance(obj, dict):
            return None
        version = obj.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
            return version
        return self.legacy(obj)


@dataclass(frozen=True)
class Migration:
    """One file upgraded: from which version to which, and where the file as it was is kept."""

    path: Path
    old: int
    new: int
    kept: Path

    def describe(self, root: Path) -> str:
        """``cloud-simulator/cloud-state.json 1 → 2 (the old file kept as …v1)``, under root."""
        try:
            shown = self.path.relative_to(root)
        except ValueError:
            shown = self.path
        return f"{shown} {self.old} → {self.new} (the old file kept as {self.kept.name})"


def load(path: Path, fmt: Format) -> tuple[JsonObject | None, Migration | None]:
    """``path``'s object in ``fmt``'s current version (None if there is no file) and the
    migration that brought it there, if one did.

    ``NewerFormatError`` for a newer version, ``UnknownFormatError`` for none,
    ``CorruptFileError`` for a file that is not JSON; the file is unchanged then.
    """
    obj = read_json(path, None)
    if obj is None:
        return None, None
    version = fmt.version_of(obj)
    if version is None:
        raise UnknownFormatError(f"{path} names no format version of the {fmt.what}")
    if version > fmt.version:
        raise NewerFormatError(
            f"{path} is version {version} of the {fmt.what}, newer than this release reads "
            f"({fmt.version}): a newer nhi-broker wrote it, and it is left as it is; run that "
            "release, or restore a backup made by this one"
        )
    if version == fmt.version:
        return obj, None
    for step in range(version, fmt.version):
        obj = fmt.upgrades[step](obj)
        obj["version"] = step + 1
    kept = path.with_name(f"{path.name}.v{version}")
    write_atomic(kept, path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    write_json(path, obj, stat.S_IMODE(path.stat().st_mode))
    return obj, Migration(path, version, fmt.version, kept)
