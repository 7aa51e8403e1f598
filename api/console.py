"""The browser console (主控台): static files from ``api/console/``, served at ``/console``.

Plain HTML, CSS and ES modules, no build step and nothing from a CDN. Only
the files that are there are served (a fixed map, read when the API is
built: no path from the request reaches the file system); ``/`` redirects
to the console. Each page of the manual's console is a file of
``api/console/pages/``, put in its place in ``index.html`` (``<!-- page:
NAME -->``) before the page is served, so the browser gets one document.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import falcon

from api.docs import PathDoc
from api.services import ApiServices

CONSOLE_PATH = "/console"
CONSOLE_DIR = Path(__file__).with_name("console")
INDEX = "index.html"
PAGES_DIR = "pages"
PAGE_MARK = re.compile(r"^<!-- page: ([a-z]+) -->$", re.MULTILINE)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The page talks to its own origin only; the Swagger page is framed from the same origin.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "frame-ancestors 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)

DOCS: tuple[PathDoc, ...] = (
    PathDoc(
        "GET",
        CONSOLE_PATH,
        "主控台: the browser console (header, functions, settings, API log)",
        "meta",
        envelope=False,
        content_type="text/html",
    ),
    PathDoc(
        "GET",
        "/",
        "redirects (302) to the console",
        "meta",
        envelope=False,
        content_type="text/html",
        responses={302: "to /console"},
    ),
)


def console_files(directory: Path = CONSOLE_DIR) -> dict[str, Path]:
    """The console's files by name: only the types it is made of."""
    return {
        path.name: path
        for path in sorted(directory.iterdir())
        if path.is_file() and path.suffix in CONTENT_TYPES
    }


def index_page(directory: Path = CONSOLE_DIR) -> bytes:
    """``index.html`` with each ``<!-- page: NAME -->`` line replaced by ``pages/NAME.html``
    (a page that is not there fails here, when the API is built)."""

    def page(mark: re.Match[str]) -> str:
        path = directory / PAGES_DIR / f"{mark.group(1)}.html"
        return path.read_text(encoding="utf-8").rstrip("\n")

    index = (directory / INDEX).read_text(encoding="utf-8")
    return PAGE_MARK.sub(page, index).encode("utf-8")


def console_contents(directory: Path = CONSOLE_DIR) -> dict[str, bytes]:
    """What each of the console's files serves: the file, or for index.html the whole page."""
    contents = {name: path.read_bytes() for name, path in console_files(directory).items()}
    contents[INDEX] = index_page(directory)
    return contents


def _serve(resp: falcon.Response, name: str, data: bytes) -> None:
    suffix = Path(name).suffix
    resp.data = data
    resp.content_type = CONTENT_TYPES[suffix]
    resp.cache_control = ["no-cache"]  # revalidate: a new broker version brings new files
    resp.set_header("X-Content-Type-Options", "nosniff")
    if suffix == ".html":
        resp.set_header("Content-Security-Policy", CSP)
        resp.set_header("Referrer-Policy", "no-referrer")


class ConsoleIndexResource:
    """GET /console: the page."""

    def __init__(self, contents: dict[str, bytes]) -> None:
        self._index = contents[INDEX]

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """index.html, its pages in place."""
        _serve(resp, INDEX, self._index)


class ConsoleFileResource:
    """GET /console/{name}: one of the console's files."""

    def __init__(self, contents: dict[str, bytes]) -> None:
        self._contents = contents

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        """The file, or 404."""
        data = self._contents.get(name)
        if data is None:
            raise falcon.HTTPNotFound(description=f"no file {name!r} in the console")
        _serve(resp, name, data)


class RootRedirectResource:
    """GET /: to the console."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """302 to /console."""
        raise falcon.HTTPFound(CONSOLE_PATH)


def mount(app: falcon.App[Any, Any], services: ApiServices) -> None:
    """The console's page, its files, and the redirect from ``/``."""
    services.docs.extend(DOCS)
    contents = console_contents()
    app.add_route(CONSOLE_PATH, ConsoleIndexResource(contents))
    app.add_route(CONSOLE_PATH + "/{name}", ConsoleFileResource(contents))
    app.add_route("/", RootRedirectResource())
