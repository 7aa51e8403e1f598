"""The import rules: api → actors → broker, the kit beside them, one module per hardware library."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _imports() -> dict[str, set[str]]:
    """Top-level package name → the files (relative) that import it."""
    found: dict[str, set[str]] = defaultdict(set)
    for package in ("broker", "actors", "api", "nhi_https", "nhi_kit", "nhi_broker"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    found[name.split(".")[0]].add(str(path.relative_to(ROOT)))
    return found


def _in(package: str, files: set[str]) -> set[str]:
    return {f for f in files if f.startswith(f"{package}/")}


def test_broker_imports_neither_actors_nor_web_code() -> None:
    imports = _imports()
    for forbidden in (
        "pykka",
        "falcon",
        "waitress",
        "actors",
        "api",
        "nhi_https",
        "nhi_kit",
        "nhi_broker",
    ):
        assert not _in("broker", imports[forbidden]), forbidden


def test_actors_import_no_web_code() -> None:
    imports = _imports()
    for forbidden in ("falcon", "waitress", "api", "nhi_https", "nhi_kit", "nhi_broker"):
        assert not _in("actors", imports[forbidden]), forbidden


def test_each_hardware_library_is_imported_in_one_module() -> None:
    imports = _imports()
    assert imports["smartcard"] == {"broker/transport/pcsc.py"}
    assert imports["serial"] == {"broker/transport/serial.py"}


def test_the_kit_stands_beside_the_product_and_never_imports_the_composition_root() -> None:
    imports = _imports()
    for forbidden in ("pykka", "actors", "nhi_broker"):
        assert not _in("nhi_kit", imports[forbidden]), forbidden


KIT = ("nhi_kit",)  # the virtual kit: emulated cards and readers, the DC and cloud simulators


def _module_imports(package: str) -> dict[str, set[str]]:
    """File (relative) → the modules it imports, for every file of ``package``."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        found[str(path.relative_to(ROOT))] = names
    return found


def test_no_product_module_imports_the_kit() -> None:
    """The product runs without the kit; a cloud SAM runs the SAM application from broker/."""
    for package in ("broker", "actors"):
        for file, names in _module_imports(package).items():
            kit = sorted(n for n in names if n.startswith(KIT))
            assert not kit, f"{file} imports the kit: {kit}"


ALLOWED = {  # who may import whom: the composition root on top, the kit beside the product
    "nhi_broker": {"api", "actors", "broker", "nhi_https", "kit"},
    "api": {"actors", "broker", "nhi_https"},
    "actors": {"broker"},
    "broker": set(),
    "nhi_https": {"broker"},
    "kit": {"api", "broker", "nhi_https"},
}


def _graph_module() -> Any:
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts/import-graph.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_import_graph_points_one_way_and_has_no_cycle() -> None:
    graph_module = _graph_module()
    graph = graph_module.edges()
    for part, imported in graph.items():
        assert imported <= ALLOWED[part], f"{part} imports {sorted(imported - ALLOWED[part])}"
    assert graph_module.cycle(graph) is None


def test_only_the_composition_root_imports_the_kit() -> None:
    graph = _graph_module().edges()
    assert {part for part, imported in graph.items() if "kit" in imported} == {"nhi_broker"}


def test_the_graph_script_prints_the_graph_and_says_it_is_acyclic() -> None:
    shown = subprocess.run(
        [sys.executable, str(ROOT / "scripts/import-graph.py")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert shown.stdout.splitlines()[-1] == "acyclic"
    assert shown.stdout.startswith("nhi_broker → actors, api, broker, kit, nhi_https")
