"""The cloud-SAM store: import, list, get, remove; sealed at rest and bound to host and user."""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from broker.cloud_sam import CloudSamFileError
from broker.codes import Code
from broker.store import (
    INDEX_FILE,
    KEY_FILE,
    NONCE_LENGTH,
    CloudSamStore,
    CloudSamSummary,
    CloudSamUnknownError,
    SealIdentity,
    StoreCorruptError,
    StoreKeyError,
    StoreSealError,
    default_host_id,
)
from nhi_kit.emulators import people
from nhi_kit.emulators.cloud_sam_files import KIT_ISSUED_AT, build_cloud_sam, kit_cloud_sam
from nhi_kit.emulators.keys import ec_key, issuer_master, rsa_key
from tests.store.kit_sam_file import assert_no_secret, secret_forms

TRUSTED = ec_key("dc-grant").public_key()
HOST, USER = "host-a", 1000
TEST_SAM, FORMAL_SAM = "901000000047", "001000000103"


def open_store(data_dir: Path, host_id: str = HOST, user_id: int = USER) -> CloudSamStore:
    """A store on ``data_dir`` as seen by ``host_id`` and ``user_id``."""
    return CloudSamStore(data_dir, TRUSTED, identity=SealIdentity(host_id, user_id))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory the store has not made yet."""
    return tmp_path / "broker-data"


@pytest.fixture
def store(data_dir: Path) -> CloudSamStore:
    """A store holding the kit's test and formal cloud SAMs."""
    store = open_store(data_dir)
    store.import_file(*kit_cloud_sam(TEST_SAM))
    store.import_file(*kit_cloud_sam(FORMAL_SAM))
    return store


def index(data_dir: Path) -> dict[str, Any]:
    """``cloud-sams.json`` as JSON."""
    obj: dict[str, Any] = json.loads((data_dir / INDEX_FILE).read_bytes())
    return obj


def rewrite_entry(data_dir: Path, sam_id: str, **changes: str) -> None:
    """Change fields of one entry on disk, as an attacker or a bad disk would."""
    obj = index(data_dir)
    for entry in obj["entries"]:
        if entry["samId"] == sam_id:
            entry.update(changes)
    (data_dir / INDEX_FILE).write_text(json.dumps(obj), encoding="utf-8")


# --- the verbs -------------------------------------------------------------------------


def test_imported_sams_are_listed_with_the_manuals_columns(store: CloudSamStore) -> None:
    assert store.list() == [
        CloudSamSummary(FORMAL_SAM, "3501200000", "臺北虛擬診所", "臺北虛擬診", "COM2"),
        CloudSamSummary(TEST_SAM, "7777777777", "測試機構", "測試機構", "COM3"),
    ]
    assert store.list()[1].as_dict() == {
        "samId": TEST_SAM,
        "hospitalId": "7777777777",
        "name": "測試機構",
        "shortName": "測試機構",
        "comport": "COM3",
    }


def test_get_returns_the_decrypted_sam_with_its_keys(store: CloudSamStore) -> None:
    sam = store.get(TEST_SAM)
    assert sam.sam_id == TEST_SAM
    assert sam.private_key.private_numbers() == rsa_key(f"sam-{TEST_SAM}").private_numbers()
    assert sam.issuer_masters["HC"] == issuer_master("HC", sam.environment)


def test_import_returns_the_validated_file(data_dir: Path) -> None:
    sam = open_store(data_dir).import_file(*kit_cloud_sam(TEST_SAM))
    assert (sam.sam_id, sam.hospital_id) == (TEST_SAM, "7777777777")


def test_a_new_instance_sees_what_another_imported(store: CloudSamStore, data_dir: Path) -> None:
    assert [row.sam_id for row in open_store(data_dir).list()] == [FORMAL_SAM, TEST_SAM]
    assert open_store(data_dir).get(FORMAL_SAM).hospital_id == "3501200000"


def test_reimporting_a_sam_replaces_it(store: CloudSamStore) -> None:
    record = dataclasses.replace(people.SAMS[1], hospital_name="改名機構", comport=None)
    masters = {kind: issuer_master(kind, record.environment) for kind in ("HC", "HPC")}
    name, content = build_cloud_sam(
        record,
        rsa_key(f"sam-{TEST_SAM}"),
        ec_key("dc-grant"),
        masters,
        store.get(TEST_SAM).issued_at.replace(year=2025),
    )
    store.import_file(name, content)
    assert [row.sam_id for row in store.list()] == [FORMAL_SAM, TEST_SAM]
    assert store.list()[1].name == "改名機構"
    assert store.get(TEST_SAM).issued_at.year == 2025


def test_remove_forgets_the_sam(store: CloudSamStore) -> None:
    store.remove(TEST_SAM)
    assert [row.sam_id for row in store.list()] == [FORMAL_SAM]
    with pytest.raises(CloudSamUnknownError) as caught:
        store.get(TEST_SAM)
    assert caught.value.code == Code.CLOUD_SAM_UNKNOWN


@pytest.mark.parametrize("verb", ["get", "remove"])
def test_an_unknown_sam_id_is_1611(store: CloudSamStore, verb: str) -> None:
    with pytest.raises(CloudSamUnknownError) as caught:
        getattr(store, verb)("901999999999")
    assert caught.value.code == Code.CLOUD_SAM_UNKNOWN
    assert "901999999999" in str(caught.value)


def test_an_empty_store_lists_nothing_and_writes_nothing(data_dir: Path) -> None:
    assert open_store(data_dir).list() == []
    assert list(data_dir.iterdir()) == []


def test_an_invalid_file_is_refused_and_the_store_is_unchanged(
    store: CloudSamStore, data_dir: Path
) -> None:
    before = (data_dir / INDEX_FILE).read_bytes()
    name, content = kit_cloud_sam(TEST_SAM)
    with pytest.raises(CloudSamFileError) as caught:
        store.import_file(name, content.replace(b"7777777777", b"7777777778"))
    assert caught.value.code == Code.CLOUD_SAM_FILE_INVALID
    assert (data_dir / INDEX_FILE).read_bytes() == before


def test_concurrent_imports_lose_no_sam(data_dir: Path) -> None:
    store = open_store(data_dir)
    files = [many_sam_file(i) for i in range(8)]
    threads = [threading.Thread(target=store.import_file, args=file) for file in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.list()) == len(files)


def many_sam_file(i: int) -> tuple[str, bytes]:
    """A test cloud SAM of its own id, issued by the kit's DC."""
    record = dataclasses.replace(people.SAMS[1], sam_id=f"9010000010{i:02d}")
    masters = {kind: issuer_master(kind, record.environment) for kind in ("HC", "HPC")}
    return build_cloud_sam(
        record, rsa_key(f"sam-{TEST_SAM}"), ec_key("dc-grant"), masters, KIT_ISSUED_AT
    )


# --- at rest ---------------------------------------------------------------------------


def all_bytes(data_dir: Path) -> list[tuple[Path, bytes]]:
    """Every file under ``data_dir`` with its content."""
    return [(path, path.read_bytes()) for path in sorted(data_dir.rglob("*")) if path.is_file()]


@pytest.mark.parametrize("sam_id", [TEST_SAM, FORMAL_SAM])
def test_no_plaintext_key_material_is_anywhere_in_the_data_directory(
    store: CloudSamStore, data_dir: Path, sam_id: str
) -> None:
    store.get(sam_id)  # decrypting must not leave a plaintext copy either
    files = all_bytes(data_dir)
    assert {path.name for path, _ in files} == {KEY_FILE, INDEX_FILE}
    pem = json.loads(kit_cloud_sam(sam_id)[1])["privateKey"]
    for path, content in files:
        for secret in secret_forms(sam_id):
            assert secret not in content, path
        assert pem.encode() not in content
        assert json.dumps(pem).encode() not in content  # the PEM as the .SAM JSON escapes it


def test_the_sealed_entry_is_a_fresh_nonce_and_ciphertext(
    store: CloudSamStore, data_dir: Path
) -> None:
    content = kit_cloud_sam(TEST_SAM)[1]
    sealed = [
        base64.b64decode(e["sealed"]) for e in index(data_dir)["entries"] if e["samId"] == TEST_SAM
    ]
    assert len(sealed) == 1
    assert len(sealed[0]) == NONCE_LENGTH + len(content) + 16  # GCM tag
    assert content not in sealed[0]


def test_every_seal_uses_a_new_nonce(data_dir: Path) -> None:
    store = open_store(data_dir)
    nonces = set()
    for _ in range(20):
        store.import_file(*kit_cloud_sam(TEST_SAM))
        (entry,) = index(data_dir)["entries"]
        nonces.add(base64.b64decode(entry["sealed"])[:NONCE_LENGTH])
    assert len(nonces) == 20


def test_the_key_file_is_0600_and_the_directory_0700(store: CloudSamStore, data_dir: Path) -> None:
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / INDEX_FILE).stat().st_mode) == 0o600
    assert len((data_dir / KEY_FILE).read_bytes()) == 32


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_key_file_others_can_read_is_refused(
    store: CloudSamStore, data_dir: Path, mode: int
) -> None:
    (data_dir / KEY_FILE).chmod(mode)
    with pytest.raises(StoreKeyError) as caught:
        open_store(data_dir).get(TEST_SAM)
    assert f"{mode:04o}" in str(caught.value)
    assert "0600" in str(caught.value)
    assert caught.value.code == Code.CLOUD_SAM_FILE_INVALID


def test_a_missing_key_file_is_an_error_not_a_new_key(store: CloudSamStore, data_dir: Path) -> None:
    (data_dir / KEY_FILE).unlink()
    with pytest.raises(StoreKeyError, match="missing"):
        open_store(data_dir).import_file(*kit_cloud_sam(TEST_SAM))
    assert not (data_dir / KEY_FILE).exists()


def test_a_key_file_of_the_wrong_length_is_refused(store: CloudSamStore, data_dir: Path) -> None:
    (data_dir / KEY_FILE).write_bytes(bytes(16))
    with pytest.raises(StoreKeyError, match="16 bytes"):
        open_store(data_dir).get(TEST_SAM)


# --- bound to host and user ------------------------------------------------------------


def assert_refused_as_foreign(store: CloudSamStore, sam_id: str = TEST_SAM) -> StoreSealError:
    """``get`` fails with the clear host-or-user error, 1610, and no key material."""
    with pytest.raises(StoreSealError) as caught:
        store.get(sam_id)
    exc = caught.value
    assert exc.code == Code.CLOUD_SAM_FILE_INVALID
    assert "another host or user" in str(exc)
    assert exc.__cause__ is None
    assert exc.__suppress_context__  # no InvalidTag traceback beneath it
    assert_no_secret(str(exc) + repr(exc), sam_id)
    return exc


def test_the_store_opened_as_another_host_is_refused(store: CloudSamStore, data_dir: Path) -> None:
    assert_refused_as_foreign(open_store(data_dir, host_id="host-b"))


def test_the_store_opened_as_another_user_is_refused(store: CloudSamStore, data_dir: Path) -> None:
    assert_refused_as_foreign(open_store(data_dir, user_id=USER + 1))


def test_a_store_copied_to_another_host_is_refused(
    store: CloudSamStore, data_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copied"
    shutil.copytree(data_dir, copy)
    assert_refused_as_foreign(open_store(copy, host_id="another-machine"))
    # The same copy on the same host and user opens: the binding is host and user, not path.
    assert open_store(copy).get(TEST_SAM).sam_id == TEST_SAM


def test_the_real_host_and_user_are_the_default_binding(data_dir: Path) -> None:
    real = CloudSamStore(data_dir, TRUSTED)
    real.import_file(*kit_cloud_sam(TEST_SAM))
    assert CloudSamStore(data_dir, TRUSTED).get(TEST_SAM).sam_id == TEST_SAM
    assert_refused_as_foreign(open_store(data_dir, host_id=default_host_id() + "x"))


def test_the_host_id_is_the_machine_id_when_there_is_one() -> None:
    machine_id = Path("/etc/machine-id")
    if machine_id.is_file() and machine_id.read_text().strip():
        assert default_host_id() == machine_id.read_text().strip()
    else:
        assert default_host_id()


# --- tampering and damage --------------------------------------------------------------


def test_a_flipped_bit_in_a_sealed_entry_is_refused(store: CloudSamStore, data_dir: Path) -> None:
    (entry,) = [e for e in index(data_dir)["entries"] if e["samId"] == TEST_SAM]
    raw = bytearray(base64.b64decode(entry["sealed"]))
    raw[40] ^= 0x01
    rewrite_entry(data_dir, TEST_SAM, sealed=base64.b64encode(raw).decode())
    assert "damaged" in str(assert_refused_as_foreign(store))
    assert store.get(FORMAL_SAM).sam_id == FORMAL_SAM  # the other entry still opens


def test_a_sealed_entry_moved_to_another_sam_is_refused(
    store: CloudSamStore, data_dir: Path
) -> None:
    sealed = {e["samId"]: e["sealed"] for e in index(data_dir)["entries"]}
    rewrite_entry(data_dir, TEST_SAM, sealed=sealed[FORMAL_SAM])
    assert_refused_as_foreign(store)


@pytest.mark.parametrize("sealed", ["", "AAAA", "not base64!"])
def test_a_truncated_or_garbled_entry_is_damaged(
    store: CloudSamStore, data_dir: Path, sealed: str
) -> None:
    rewrite_entry(data_dir, TEST_SAM, sealed=sealed)
    with pytest.raises(StoreSealError, match="damaged"):
        store.get(TEST_SAM)


def test_an_entry_whose_file_name_was_altered_is_refused(
    store: CloudSamStore, data_dir: Path
) -> None:
    rewrite_entry(data_dir, TEST_SAM, fileName="7777777_01901000000047.SAM")
    with pytest.raises(StoreSealError, match="no longer valid: ids in the file"):
        store.get(TEST_SAM)


@pytest.mark.parametrize("garbage", [b"{not json", b"\xff\xfe", b""])
def test_a_corrupt_index_is_an_error_never_an_empty_store(
    store: CloudSamStore, data_dir: Path, garbage: bytes
) -> None:
    (data_dir / INDEX_FILE).write_bytes(garbage)
    for attempt in (store.list, lambda: store.import_file(*kit_cloud_sam(TEST_SAM))):
        with pytest.raises(StoreCorruptError) as caught:
            attempt()
        assert INDEX_FILE in str(caught.value)
        assert caught.value.code == Code.CLOUD_SAM_FILE_INVALID
    assert (data_dir / INDEX_FILE).read_bytes() == garbage  # nothing overwrote the evidence


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ([], "not a version 1 index"),
        ({"version": "1", "entries": []}, "not a version 1 index"),
        ({"version": 1, "entries": {}}, "'entries' is not a list"),
        ({"version": 1, "entries": [1]}, "entry 0 is not an object"),
        ({"version": 1, "entries": [{"samId": 1}]}, "entry 0 field 'samId' is not text"),
    ],
)
def test_an_index_of_the_wrong_shape_names_what_is_wrong(
    data_dir: Path, obj: object, reason: str
) -> None:
    data_dir.mkdir()
    (data_dir / INDEX_FILE).write_text(json.dumps(obj))
    with pytest.raises(StoreCorruptError, match=reason):
        open_store(data_dir).list()


def test_stale_temp_files_are_ignored_and_removed_on_open(
    store: CloudSamStore, data_dir: Path
) -> None:
    stale = [data_dir / f".{INDEX_FILE}.abc123.tmp", data_dir / f".{KEY_FILE}.def456.tmp"]
    for path in stale:
        path.write_bytes(b"half a write")
    reopened = open_store(data_dir)
    assert not any(path.exists() for path in stale)
    assert reopened.get(TEST_SAM).sam_id == TEST_SAM
