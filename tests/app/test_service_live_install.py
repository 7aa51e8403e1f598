"""``nhi-broker install`` on the live root, run in a private mount namespace.

There, ``/etc``, ``/usr/local``, ``/var/lib`` and ``/opt`` are overlays on this host's
own: the install sees this host's users and groups and writes into the overlays'
upper directories, which the test reads afterwards; the host's files stay as they were.
``/run`` is empty there (no systemd to talk to). The installed program is a small venv
at ``/opt/nhi-broker/.venv`` on this test run's interpreter (mounted at ``/opt/python``)
and packages, so the test works wherever the checkout is.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.program_copy import copy_site

TREES = ("etc", "usr/local", "var/lib", "opt")
USER = "nhi-broker"
PREPARE = r"""
set -eu
for tree in etc usr/local var/lib opt; do
  mkdir -p "$UPPER/$tree" "$WORK/$tree"
  mount -t overlay overlay -o "lowerdir=/$tree,upperdir=$UPPER/$tree,workdir=$WORK/$tree" "/$tree"
done
mkdir -p /opt/python /opt/nhi-broker/.venv
mount --bind "$PYTHON" /opt/python
mount --bind "$VENV" /opt/nhi-broker/.venv
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /tmp/checkout/.venv
mount --bind /opt/nhi-broker/.venv /tmp/checkout/.venv
exec "$@"
"""
PROGRAM = "/opt/nhi-broker/.venv/bin/nhi-broker"
UNDER_TMP = "/tmp/checkout/.venv/bin/nhi-broker"  # the same venv, seen under /tmp


def make_venv(venv: Path) -> None:
    """A venv for ``/opt/nhi-broker/.venv``: ``/opt/python``'s interpreter, copies of this
    checkout's packages and their dependencies, a ``nhi-broker`` that runs the CLI."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    inside = Path("/opt/python/bin") / f"python{version}"  # sys.base_prefix, mounted there
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/python").symlink_to(inside)
    (venv / "pyvenv.cfg").write_text(f"home = {inside.parent}\nversion = {version}\n")
    packages = venv / "lib" / f"python{version}" / "site-packages"
    # copies, not this run's site-packages: the namespace hides /tmp, where a checkout
    # (and its .venv) may be
    copy_site(packages)
    program = venv / "bin/nhi-broker"
    program.write_text(
        '#!/bin/sh\nexec "$(dirname "$0")/python" -c '
        "'import sys; from nhi_broker.cli import main; sys.exit(main())' \"$@\"\n"
    )
    program.chmod(0o755)


def on_live_root(tmp_path: Path, *command: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``command`` in the namespace; its answer and the overlays' upper directories."""
    unshare = shutil.which("unshare")
    assert unshare is not None, "unshare is missing: it comes with util-linux"
    venv, upper, work = tmp_path / "venv", tmp_path / "upper", tmp_path / "work"
    make_venv(venv)
    environment = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "UPPER": str(upper),
        "WORK": str(work),
        "PYTHON": str(Path(sys.base_prefix).resolve()),
        "VENV": str(venv),
    }
    done = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "sh", "-c", PREPARE, "sh", *command],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    return done, upper


def entries(path: Path) -> dict[str, list[str]]:
    return {line.split(":")[0]: line.split(":") for line in path.read_text().splitlines()}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def host_users() -> Iterator[None]:
    """This host's user database, which must come out of the test as it went in."""
    before = {name: digest(Path("/etc") / name) for name in ("passwd", "group")}
    yield
    assert {name: digest(Path("/etc") / name) for name in before} == before


@pytest.mark.usefixtures("host_users")
def test_install_on_the_live_root_gives_the_data_to_the_hosts_user_in_the_existing_dialout(
    tmp_path: Path,
) -> None:
    done, upper = on_live_root(tmp_path, PROGRAM, "install")
    assert done.returncode == 0, done.stderr
    users, groups = entries(upper / "etc/passwd"), entries(upper / "etc/group")
    uid, gid = int(users[USER][2]), int(users[USER][3])
    assert groups["dialout"][2] == entries(Path("/etc/group"))["dialout"][2]  # not a new one
    assert USER in groups["dialout"][3].split(",")
    data = upper / "var/lib/nhi-broker"
    for path in [data, data / "tls", *(data / "tls").iterdir()]:
        assert (path.stat().st_uid, path.stat().st_gid) == (uid, gid), path
    assert (upper / "etc/nhi-broker/config.toml").stat().st_uid == 0
    wrapper = (upper / "usr/local/bin/nhi-broker").read_text()
    assert f"exec {PROGRAM} " in wrapper
    assert done.stdout.startswith("Next steps:\n  1. Edit /etc/nhi-broker/config.toml")
    assert "systemd-sysusers" not in done.stdout  # made already
    assert "stays root's" not in done.stderr


@pytest.mark.usefixtures("host_users")
def test_install_on_the_live_root_refuses_a_checkout_under_tmp(tmp_path: Path) -> None:
    done, upper = on_live_root(tmp_path, UNDER_TMP, "install")
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"nhi-broker: {UNDER_TMP} is under /tmp, which the service cannot see (its unit has "
        "PrivateTmp=yes"
    )
    assert "put the checkout under /opt" in done.stderr
    written = [path for path in upper.rglob("*") if path.is_file()]
    assert written == []  # refused before anything was written
