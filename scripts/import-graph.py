"""Print the import graph between the repository's parts, and whether it is acyclic.

    .venv/bin/python scripts/import-graph.py

Parts: the composition root (app), the Web API (api), the actors, the domain
(broker), HTTPS serving (nhi_https), and the virtual kit (nhi_kit).
tests/unit/test_layers.py checks the same graph against the rules.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nhi_broker", "api", "actors", "broker", "nhi_https", "nhi_kit")
KIT_MODULES = ("nhi_kit",)


def part_of(module: str) -> str | None:
    """The part a module belongs to (None: not the repository's)."""
    if module.startswith(KIT_MODULES):
        return "kit"
    top = module.split(".", maxsplit=1)[0]
    return top if top in PACKAGES else None


def edges() -> dict[str, set[str]]:
    """Part → the parts its modules import (itself left out)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            source = part_of(module)
            assert source is not None
            graph[source]
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                for name in names:
                    target = part_of(name)
                    if target is not None and target != source:
                        graph[source].add(target)
    return dict(graph)


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of parts, if there is one."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if state.get(nxt) is None and (found := visit(nxt, [*path, node])):
                return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None and (found := visit(node, [])):
            return found
    return None


def main() -> int:
    graph = edges()
    for part in ("nhi_broker", "api", "actors", "broker", "nhi_https", "kit"):
        print(f"{part:10} → {', '.join(sorted(graph.get(part, ()))) or '(nothing)'}")
    found = cycle(graph)
    print("acyclic" if found is None else "cycle: " + " → ".join(found))
    return 0 if found is None else 1


if __name__ == "__main__":
    sys.exit(main())
