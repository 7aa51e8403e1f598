"""A copy of this checkout's ``nhi-broker`` that every user may run, wherever the checkout is.

Tests that run the program as another user (a desktop user beside the service)
cannot use the checkout's ``.venv`` when the checkout sits in a directory only
its owner enters (``/root/…``, ``mktemp -d``). This copy holds the product's
packages and the installed files of their runtime dependencies, readable by all.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("broker", "actors", "api", "nhi_https", "nhi_broker", "nhi_kit")
DISTRIBUTION = "nhi-broker"


def runtime_distributions() -> list[importlib.metadata.Distribution]:
    """``nhi-broker`` and what it needs to run (no extras), each once."""
    found: dict[str, importlib.metadata.Distribution] = {}
    wanted = [DISTRIBUTION]
    while wanted:
        name = wanted.pop()
        dist = importlib.metadata.distribution(name)
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in found:
            continue
        found[key] = dist
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                wanted.append(requirement.name)
    return list(found.values())


def _copy_installed_files(dist: importlib.metadata.Distribution, site: Path) -> None:
    for file in dist.files or []:
        if file.parts[0] == ".." or "__pycache__" in file.parts:
            continue  # scripts outside site-packages; byte code is made again
        target = site / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(str(dist.locate_file(file))), target)


def interpreter() -> Path:
    """The interpreter the .venv was made from if every user reaches it, else Debian's own."""
    made_from = Path(sys.executable).resolve()
    if all(os.stat(parent).st_mode & 0o001 for parent in made_from.parents):
        return made_from
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    debians = Path("/usr/bin") / version
    assert debians.exists(), f"{made_from} is private to its owner and there is no {debians}"
    return debians


def copy_site(site: Path) -> None:
    """Into ``site``: copies of the product's packages and of their runtime dependencies."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, site / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    [own, *dependencies] = runtime_distributions()
    # its own metadata only (the version it reports): its packages are the checkout's
    info = site / f"nhi_broker-{own.version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(own.read_text("METADATA") or own.read_text("PKG-INFO") or "")
    for dist in dependencies:
        _copy_installed_files(dist, site)


def copy_program(directory: Path) -> Path:
    """``directory/nhi-broker``: runs a copy of this checkout's program with its dependencies."""
    site = directory / "site-packages"
    copy_site(site)
    program = directory / "nhi-broker"
    # -E -s: no PYTHON* variables, no user site
    program.write_text(
        f"#!{interpreter()} -Es\nimport sys\nsys.path.insert(0, {str(site)!r})\n"
        "from nhi_broker.cli import main\nsys.exit(main())\n"
    )
    for path in (directory, *directory.rglob("*")):
        path.chmod(0o755 if path.is_dir() or path == program else 0o644)
    return program
