"""The console's hand-written copies of the Python tables stay equal to them."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from api.console import CONSOLE_DIR, PAGES_DIR, console_files, index_page
from api.routes import ROUTES
from broker.codes import MESSAGES
from broker.rules import RULES, Function


def js_literal(file: str, name: str) -> Any:
    """The strict-JSON literal of ``export const <name> = …;`` in a console module."""
    text = (CONSOLE_DIR / file).read_text(encoding="utf-8")
    match = re.search(rf"^export const {name} = (.*?);$", text, re.MULTILINE | re.DOTALL)
    assert match, f"{file} has no {name}"
    return json.loads(match.group(1))


def test_the_executable_state_tables_copy_broker_rules() -> None:
    expected = [
        {
            "function": function.name,
            "label": function.value,
            "initialized": need.initialized,
            "sam": None if need.sam is None else int(need.sam),
            "hca": None if need.hca is None else [int(s) for s in need.hca],
            "hc": None if need.hc is None else [int(s) for s in need.hc],
            "hcPinIfSet": need.hc_pin_if_set,
            "hcLogoutFirst": need.hc_logout_first,
            "after": need.after,
        }
        for function, need in RULES.items()
    ]
    assert js_literal("rules.js", "RULES") == expected


def test_every_function_calls_its_endpoint_from_api_routes() -> None:
    expected = {r.function.name: {"method": r.method, "path": r.path} for r in ROUTES}
    assert js_literal("rules.js", "ROUTES") == expected


def test_the_status_code_table_copies_broker_codes() -> None:
    expected = [{"code": f"{int(c):04d}", "message": m} for c, m in sorted(MESSAGES.items())]
    assert js_literal("codes.js", "CODES") == expected


class Blocks(HTMLParser):
    """The function buttons and 可執行狀態 tables of each block of index.html."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[dict[str, set[str]]] = []
        self._depth = 0
        self._block_depth: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section":
            self._depth += 1
            if "block" in (values.get("class") or "").split():
                self._block_depth.append(self._depth)
                self.blocks.append({"buttons": set(), "rules": set()})
        if not self._block_depth:
            return
        if tag == "button" and values.get("data-fn"):
            self.blocks[-1]["buttons"].add(str(values["data-fn"]))
        if values.get("data-rules"):
            self.blocks[-1]["rules"].update(str(values["data-rules"]).split())

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            if self._block_depth and self._block_depth[-1] == self._depth:
                self._block_depth.pop()
            self._depth -= 1


def test_every_function_has_a_button_beside_its_executable_state_row() -> None:
    parser = Blocks()
    parser.feed(index_page().decode("utf-8"))
    with_buttons = [b for b in parser.blocks if b["buttons"]]
    for found in with_buttons:
        assert found["buttons"] == found["rules"], found
    buttons = set().union(*(b["buttons"] for b in with_buttons))
    assert buttons == {f.name for f in Function}


def test_only_plain_static_files_make_the_console(tmp_path: Path) -> None:
    files = console_files()
    assert {"index.html", "console.css", "console.js", "favicon.svg"} <= set(files)
    for path in [*files.values(), *(CONSOLE_DIR / PAGES_DIR).glob("*.html")]:
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text, f"{path.name} loads something from elsewhere"
    (tmp_path / "notes.txt").write_text("not served")
    (tmp_path / "page.html").write_text("<p>")
    assert set(console_files(tmp_path)) == {"page.html"}


def test_the_page_is_index_html_with_each_panel_of_the_manual_in_its_place() -> None:
    page = index_page().decode("utf-8")
    assert "<!-- page:" not in page
    for name in ("common", "sam", "hca", "hc", "settings", "swagger", "about"):
        assert (CONSOLE_DIR / PAGES_DIR / f"{name}.html").is_file()
        assert page.count(f'id="page-{name}"') == 1
    assert page.index('id="page-common"') < page.index('id="page-about"') < page.index("</body>")


def test_a_page_that_is_not_there_fails_when_the_api_is_built(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<body>\n<!-- page: lost -->\n</body>")
    (tmp_path / PAGES_DIR).mkdir()
    with pytest.raises(FileNotFoundError):
        index_page(tmp_path)
