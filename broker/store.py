"""The imported cloud SAMs, sealed at rest with AES-256-GCM and bound to this host and user.

``data_dir`` holds ``store.key`` (32 random bytes, mode 0600) and
``cloud-sams.json``: per SAM its public columns and ``sealed``, the base64 of
a fresh 12-byte nonce followed by the AES-GCM ciphertext of the whole
``.SAM`` file. The associated data names this host, this user and the SAM,
so a store copied elsewhere, or an entry moved to another SAM, does not open.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import contextlib
import os
import socket
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker import formats
from broker.atomic import (
    CorruptFileError,
    ensure_private_dir,
    read_json,
    remove_stale_temp_files,
    write_atomic,
    write_json,
)
from broker.cloud_sam import CloudSamFile, CloudSamFileError, load_cloud_sam
from broker.codes import Code
from broker.errors import BrokerError

KEY_FILE = "store.key"
INDEX_FILE = "cloud-sams.json"
INDEX_VERSION = 1
INDEX_FORMAT = formats.Format("cloud-SAM store", INDEX_VERSION)
KEY_LENGTH = 32  # AES-256
NONCE_LENGTH = 12
TAG_LENGTH = 16
AAD_LABEL = b"nhi-broker cloud-sam v1|"
MACHINE_ID = Path("/etc/machine-id")


class StoreError(BrokerError):
    """The cloud-SAM store cannot be used as it is on disk."""

    default_code = Code.CLOUD_SAM_FILE_INVALID


class StoreSealError(StoreError):
    """A sealed entry does not open: another host or user sealed it, or it is damaged."""


class StoreCorruptError(StoreError):
    """``cloud-sams.json`` is not what the store wrote."""


class StoreKeyError(StoreError):
    """``store.key`` is unsafe (readable by others) or malformed."""


class CloudSamUnknownError(BrokerError):
    """No cloud SAM with that id has been imported."""

    default_code = Code.CLOUD_SAM_UNKNOWN


@dataclass(frozen=True)
class CloudSamSummary:
    """One row of the manual's cloud-SAM table: no secrets."""

    sam_id: str
    hospital_id: str
    name: str
    short_name: str
    comport: str | None

    def as_dict(self) -> dict[str, str | None]:
        """The row with the manual's column names."""
        return {
            "samId": self.sam_id,
            "hospitalId": self.hospital_id,
            "name": self.name,
            "shortName": self.short_name,
            "comport": self.comport,
        }


@dataclass(frozen=True)
class _Entry:
    """One SAM as ``cloud-sams.json`` keeps it."""

    sam_id: str
    hospital_id: str
    hospital_name: str
    hospital_short_name: str
    comport: str | None
    file_name: str
    sealed: str = field(repr=False)

    def to_json(self) -> dict[str, str | None]:
        """The entry's JSON object."""
        return {
            "samId": self.sam_id,
            "hospitalId": self.hospital_id,
            "hospitalName": self.hospital_name,
            "hospitalShortName": self.hospital_short_name,
            "comport": self.comport,
            "fileName": self.file_name,
            "sealed": self.sealed,
        }

    @classmethod
    def from_json(cls, obj: object, index: int) -> _Entry:
        """Parse entry number ``index``; StoreCorruptError naming the bad field."""
        if not isinstance(obj, dict):
            raise StoreCorruptError(f"{INDEX_FILE}: entry {index} is not an object")
        for key in (
            "samId",
            "hospitalId",
            "hospitalName",
            "hospitalShortName",
            "fileName",
            "sealed",
        ):
            if not isinstance(obj.get(key), str):
                raise StoreCorruptError(f"{INDEX_FILE}: entry {index} field {key!r} is not text")
        if not isinstance(obj.get("comport"), str | None):
            raise StoreCorruptError(
                f"{INDEX_FILE}: entry {index} field 'comport' is neither text nor null"
            )
        return cls(
            obj["samId"],
            obj["hospitalId"],
            obj["hospitalName"],
            obj["hospitalShortName"],
            obj["comport"],
            obj["fileName"],
            obj["sealed"],
        )

    def summary(self) -> CloudSamSummary:
        """The public columns."""
        return CloudSamSummary(
            self.sam_id,
            self.hospital_id,
            self.hospital_name,
            self.hospital_short_name,
            self.comport,
        )


def default_host_id() -> str:
    """This machine's id (``/etc/machine-id``), or its host name if there is none."""
    try:
        machine_id = MACHINE_ID.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        machine_id = ""
    return machine_id or socket.gethostname()


@dataclass(frozen=True)
class SealIdentity:
    """The host and user a store's entries are sealed for."""

    host_id: str
    user_id: int

    @classmethod
    def here(cls) -> SealIdentity:
        """This host (``/etc/machine-id``) and this process's user."""
        return cls(default_host_id(), os.getuid())


class CloudSamStore:
    """The imported cloud SAMs of one broker installation; thread-safe.

    ``identity`` is whom entries are sealed for: this host and user unless given
    (the product never gives it; tests open a store made elsewhere with it).
    ``NewerFormatError`` if a newer release wrote the index (it stays as it is).
    """

    def __init__(
        self,
        data_dir: Path,
        trusted_dc_key: ec.EllipticCurvePublicKey | None,
        *,
        identity: SealIdentity | None = None,
    ) -> None:
        self._dir = data_dir
        self._trusted_dc_key = trusted_dc_key
        self._identity = identity or SealIdentity.here()
        self._lock = threading.Lock()
        self._key: bytes | None = None
        ensure_private_dir(data_dir)
        # A writer killed mid-write leaves its temp file; no writer runs while we open.
        remove_stale_temp_files(self._index_path)
        remove_stale_temp_files(self._key_path)
        self.migration: formats.Migration | None = None  # what opening upgraded
        # A damaged index is left to every call to report (StoreCorruptError).
        with contextlib.suppress(CorruptFileError, formats.UnknownFormatError):
            _, self.migration = formats.load(self._index_path, INDEX_FORMAT)

    @property
    def _index_path(self) -> Path:
        return self._dir / INDEX_FILE

    @property
    def _key_path(self) -> Path:
        return self._dir / KEY_FILE

    # --- public verbs ------------------------------------------------------------------

    def import_file(self, name: str, content: bytes) -> CloudSamFile:
        """Validate and seal a ``.SAM`` file; it replaces an earlier import of the same SAM."""
        sam = load_cloud_sam(name, content, self._trusted_dc_key)
        with self._lock:
            entry = _Entry(
                sam.sam_id,
                sam.hospital_id,
                sam.hospital_name,
                sam.hospital_short_name,
                sam.comport,
                sam.file_name,
                self._seal(sam.sam_id, bytes(content)),
            )
            others = [e for e in self._read_entries() if e.sam_id != sam.sam_id]
            self._write_entries(sorted([*others, entry], key=lambda e: e.sam_id))
        return sam

    def list(self) -> builtins.list[CloudSamSummary]:
        """The imported SAMs' public columns, by SAM id."""
        with self._lock:
            return [entry.summary() for entry in self._read_entries()]

    def get(self, sam_id: str) -> CloudSamFile:
        """The imported SAM, decrypted and validated again; 1611 if unknown."""
        with self._lock:
            entry = self._find(self._read_entries(), sam_id)
            content = self._unseal(entry)
        try:
            return load_cloud_sam(entry.file_name, content, self._trusted_dc_key)
        except CloudSamFileError as exc:
            raise StoreSealError(
                f"the stored file of cloud SAM {sam_id} is no longer valid: {exc.detail}"
            ) from None

    def remove(self, sam_id: str) -> None:
        """Forget an imported SAM; 1611 if unknown."""
        with self._lock:
            entries = self._read_entries()
            self._find(entries, sam_id)
            self._write_entries([e for e in entries if e.sam_id != sam_id])

    # --- index -------------------------------------------------------------------------

    @staticmethod
    def _find(entries: builtins.list[_Entry], sam_id: str) -> _Entry:
        for entry in entries:
            if entry.sam_id == sam_id:
                return entry
        raise CloudSamUnknownError(f"no cloud SAM {str(sam_id)[:40]!r} has been imported")

    def _read_entries(self) -> builtins.list[_Entry]:
        """The index's entries; a damaged index is an error, never an empty store."""
        try:
            obj: Any = read_json(self._index_path, {"version": INDEX_VERSION, "entries": []})
        except CorruptFileError as exc:
            raise StoreCorruptError(f"{exc}; the cloud-SAM store is damaged") from None
        if not isinstance(obj, dict) or obj.get("version") != INDEX_VERSION:
            raise StoreCorruptError(f"{self._index_path} is not a version {INDEX_VERSION} index")
        entries = obj.get("entries")
        if not isinstance(entries, builtins.list):
            raise StoreCorruptError(f"{self._index_path}: 'entries' is not a list")
        return [_Entry.from_json(item, index) for index, item in enumerate(entries)]

    def _write_entries(self, entries: builtins.list[_Entry]) -> None:
        index = {"version": INDEX_VERSION, "entries": [e.to_json() for e in entries]}
        write_json(self._index_path, index)

    # --- sealing -----------------------------------------------------------------------

    def _aad(self, sam_id: str) -> bytes:
        """Associated data binding a sealed file to this host, this user and its SAM."""
        return (
            AAD_LABEL
            + self._identity.host_id.encode("utf-8")
            + b"|"
            + str(self._identity.user_id).encode("ascii")
            + b"|"
            + sam_id.encode("utf-8")
        )

    def _seal(self, sam_id: str, content: bytes) -> str:
        nonce = os.urandom(NONCE_LENGTH)  # fresh for every seal: GCM nonces must never repeat
        ciphertext = AESGCM(self._store_key()).encrypt(nonce, content, self._aad(sam_id))
        return base64.b64encode(nonce + ciphertext).decode("ascii")

    def _unseal(self, entry: _Entry) -> bytes:
        try:
            raw = base64.b64decode(entry.sealed, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) < NONCE_LENGTH + TAG_LENGTH:
            raise StoreSealError(f"the sealed entry of cloud SAM {entry.sam_id} is damaged")
        nonce, ciphertext = raw[:NONCE_LENGTH], raw[NONCE_LENGTH:]
        try:
            return AESGCM(self._store_key()).decrypt(nonce, ciphertext, self._aad(entry.sam_id))
        except InvalidTag:
            raise StoreSealError(
                f"the sealed entry of cloud SAM {entry.sam_id} does not open: the store in "
                f"{self._dir} was sealed for another host or user, or it is damaged; "
                "import the .SAM file again on this host"
            ) from None

    def _store_key(self) -> bytes:
        """The sealing key, made on first use; refused if others could read it."""
        if self._key is None:
            path = self._key_path
            if not path.exists():
                if self._read_entries():
                    # A new key would turn every entry into an unopenable one.
                    raise StoreKeyError(f"{path} is missing but the store holds sealed entries")
                write_atomic(path, os.urandom(KEY_LENGTH), 0o600)
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                raise StoreKeyError(
                    f"{path} has mode {mode:04o}: group or others may read it; "
                    "make it 0600 (chmod 600) or remove the store"
                )
            key = path.read_bytes()
            if len(key) != KEY_LENGTH:
                raise StoreKeyError(f"{path} is {len(key)} bytes, not {KEY_LENGTH}")
            self._key = key
        return self._key
