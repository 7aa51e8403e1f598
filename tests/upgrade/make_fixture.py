"""Make an upgrade fixture: the data directory an earlier release's ``serve --profile sim`` left.

Run as root, with that release installed somewhere of its own (its own checkout and venv)::

    .venv/bin/python -m tests.upgrade.make_fixture \\
        --program /tmp/old/.venv/bin/nhi-broker --commit 5e8be16 \\
        --out tests/upgrade/release-5e8be16

The release runs unchanged, on a host of its own: a mount namespace in which
``/etc/machine-id`` is ``HOST_ID`` and a UTS namespace whose host name is
``HOST_NAME`` (``unshare``), so the fixture names no real machine. Through its
Web API it then gets what a clinic's broker has: a chosen default reader, a last
device, CORS hosts, a third cloud SAM, and a visit in the cloud simulator. It is
stopped with SIGTERM; ``serve/`` (written at every start) is dropped.
``fixture.json`` records the commit, the host and user the cloud-SAM store was
sealed for, each file's mode (git keeps only the executable bit) and the visit.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from nhi_kit.emulators.cloud_sam_files import kit_cloud_sam

HOST_ID = "0123456789abcdef0123456789abcdef"  # /etc/machine-id's form: 32 hex digits
HOST_NAME = "fixture-host"
CLOUD_SAM = "901000000047"  # the manual's test cloud SAM, imported at first start
EXTRA_SAM = "901000000054"  # the kit's third cloud SAM (過期合約診所), imported by hand
PATIENT = "900000000711"  # 吳佳蓉 in Virtual Reader 0, the first default reader
DEFAULT_READER = "Virtual Reader 4"  # the empty one; 2 and 3 are desk2's
LAST_DEVICE = "COM1"
CORS_HOSTS = ("his.clinic.lan", "https://emr.clinic.lan:8443")
# Mounts ``$1`` over /etc/machine-id, names the host ``$2``, then runs the rest.
ON_A_HOST_OF_ITS_OWN = 'mount --bind "$1" /etc/machine-id && hostname "$2" && shift 2 && exec "$@"'


class Https:
    """JSON over one HTTPS connection at a time, trusting ``cafile``."""

    def __init__(self, url: str, cafile: Path) -> None:
        self._host, port = url.removeprefix("https://").rsplit(":", 1)
        self._port = int(port)
        self._context = ssl.create_default_context(cafile=str(cafile))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        connection = http.client.HTTPSConnection(
            self._host, self._port, context=self._context, timeout=60
        )
        try:
            headers = {"Content-Type": "application/json"}
            connection.request(method, path, body=json.dumps(body or {}).encode(), headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {response.status} {raw[:200]!r}")
        answer: dict[str, Any] = json.loads(raw)
        if answer.get("statusCode") != 0:
            raise RuntimeError(f"{method} {path}: {answer}")
        return answer


def serve(
    program: Path, data_dir: Path, machine_id: Path
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """The release's ``serve --profile sim`` on ``data_dir``, on its own host; its ready line."""
    command = [program, "serve", "--profile", "sim", "--port", "0", "--log-format", "json"]
    process = subprocess.Popen(
        [
            "unshare",
            "--mount",
            "--uts",
            "--",
            "sh",
            "-c",
            ON_A_HOST_OF_ITS_OWN,
            "sh",
            str(machine_id),
            HOST_NAME,
            *map(str, command),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if '"broker.ready"' in line:
            ready: dict[str, Any] = json.loads(line)
            # Keep reading, so the broker never blocks on a full pipe.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, ready
    raise RuntimeError(f"{program} ended before it was ready (exit {process.wait()})")


def visit(broker: Https, cloud: Https) -> dict[str, str]:
    """A cloud-SAM visit of the patient in the default reader: a sequence number, codes and fees."""
    broker.call("POST", "/api/common/v1/Initial", {"name": CLOUD_SAM})
    broker.call("POST", "/api/sam/v1/Verification")

    def signed(service_type: str) -> dict[str, Any]:
        answer = broker.call("POST", "/api/hc/v1/Signature/Hc", {"serviceType": service_type})
        keys = ("clientRandom", "hospitalId", "samId", "signature", "hcId", "hcIdNo")
        return {key: answer[key] for key in keys}

    item = {"treatmentItem": "01", "babyTreatment": " ", "afterCheck": ""}
    sequence = cloud.call("POST", "/api/v1/SequelNumber/Next", {**signed("03"), **item})
    when = sequence["treatmentDateTime"]
    codes = {"mainCode": "J069", **{f"subCode{n}": "" for n in range(1, 6)}}
    fees = {"outpatientFee": "350", "costFee": "50", "inpatientFee": "0"}
    fees |= {"inpatient30Fee": "0", "inpatient180Fee": "0"}
    body = {**signed("02"), "afterCheck": "", "treatmentDateTime": when, **codes, **fees}
    cloud.call("POST", "/api/v1/Treatment/WriteCodeFee", body)
    broker.call("POST", "/api/common/v1/Finalize")
    number = sequence["sequenceNumber"]
    return {"card": PATIENT, "treatmentDateTime": when, "sequenceNumber": number}


def settle(broker: Https) -> None:
    """What a clinic sets in 設定: a cloud SAM, the default reader, CORS hosts; a last device."""
    name, content = kit_cloud_sam(EXTRA_SAM)
    upload = {"fileName": name, "content": base64.b64encode(content).decode()}
    broker.call("POST", "/api/settings/v1/CloudSam/Add", upload)
    default = {"readerName": DEFAULT_READER}
    broker.call("POST", "/api/settings/v1/PcscReaderReader/SetDefault", default)
    for host in CORS_HOSTS:
        broker.call("POST", "/api/settings/v1/Cors/Add", {"host": host})
    broker.call("POST", "/api/common/v1/Initial", {"name": LAST_DEVICE})


def modes(data_dir: Path) -> dict[str, str]:
    """Each directory's and file's mode, by path relative to ``data_dir``."""
    found = {".": f"{data_dir.stat().st_mode & 0o7777:04o}"}
    for path in sorted(data_dir.rglob("*")):
        found[str(path.relative_to(data_dir))] = f"{path.stat().st_mode & 0o7777:04o}"
    return found


def make(program: Path, commit: str, out: Path) -> None:
    """Run the release, use it as a clinic does, stop it; write ``out/data`` and its record."""
    data_dir = out / "data"
    out.mkdir(parents=True)
    with tempfile.NamedTemporaryFile("w", suffix=".machine-id") as machine_id:
        machine_id.write(HOST_ID + "\n")
        machine_id.flush()
        process, ready = serve(program, data_dir, Path(machine_id.name))
        try:
            broker = Https(ready["url"], data_dir / "tls" / "ca.crt")
            cloud_cert = data_dir / "cloud-simulator" / "cloud-simulator.crt"
            done = visit(broker, Https(ready["cloud"], cloud_cert))
            settle(broker)
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=60)
    if code != 0:
        raise RuntimeError(f"{program} exited with {code}")
    shutil.rmtree(data_dir / "serve")  # HAProxy's files and waitress's sockets: made at start
    record = {
        "commit": commit,
        "hostId": HOST_ID,
        "hostName": HOST_NAME,
        "userId": os.getuid(),
        "visit": done,
        "modes": modes(data_dir),
    }
    text = json.dumps(record, ensure_ascii=False, indent=2) + "\n"
    (out / "fixture.json").write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--program", type=Path, required=True, help="the release's nhi-broker")
    parser.add_argument("--commit", required=True, help="the commit it was installed from")
    parser.add_argument("--out", type=Path, required=True, help="a directory not there yet")
    args = parser.parse_args()
    make(args.program, args.commit, args.out)


if __name__ == "__main__":
    main()
