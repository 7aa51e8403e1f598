"""A fork server whose children rewrite the store and the settings until they are killed.

Usage: ``crash_writer.py DATA_DIR``. Each ``fork`` line on stdin starts a
writer process (a fork, so the ~0.15 s interpreter start-up is paid once); the
writer prints ``started PID`` and then, forever, imports or removes a cloud
SAM and records its step number as the settings' last device. When the
writer dies the server prints ``ended PID SIGNAL``. ``quit`` ends the server.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from broker.settings import Settings
from broker.store import CloudSamStore, SealIdentity
from nhi_kit.emulators.cloud_sam_files import kit_cloud_sam
from nhi_kit.emulators.keys import ec_key

HOST, USER = "crash-host", 4242
KEPT_SAM, TOGGLED_SAM = "901000000047", "001000000103"
STEP_PREFIX = "step-"


def open_both(data_dir: Path) -> tuple[CloudSamStore, Settings]:
    """The store and settings as the writer and the test both see them."""
    identity = SealIdentity(HOST, USER)
    store = CloudSamStore(data_dir, ec_key("dc-grant").public_key(), identity=identity)
    return store, Settings(data_dir)


def step_of(settings: Settings) -> int:
    """The last step a writer completed, from the settings."""
    device = settings.last_device
    return int(device.removeprefix(STEP_PREFIX)) if device else 0


def write_forever(data_dir: Path) -> None:
    """Alternate whole-file rewrites of the store and of the settings until killed."""
    store, settings = open_both(data_dir)
    toggled = kit_cloud_sam(TOGGLED_SAM)
    step = step_of(settings)
    server = os.getppid()
    os.write(1, f"started {os.getpid()}\n".encode())
    while os.getppid() == server:  # an orphaned writer stops instead of writing forever
        step += 1
        if any(row.sam_id == TOGGLED_SAM for row in store.list()):
            store.remove(TOGGLED_SAM)
        else:
            store.import_file(*toggled)
        settings.set_last_device(f"{STEP_PREFIX}{step}")


def serve(data_dir: Path) -> None:
    """Fork a writer per ``fork`` line; report each one's end."""
    kit_cloud_sam(TOGGLED_SAM)  # sign once here, so writers start writing at once
    for line in sys.stdin:
        if line.strip() == "quit":
            return
        pid = os.fork()
        if pid == 0:
            try:
                write_forever(data_dir)
            except BaseException:
                traceback.print_exc()  # os._exit below would swallow it
            os._exit(1)
        _, status = os.waitpid(pid, 0)
        signal = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        sys.stdout.write(f"ended {pid} {signal}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
