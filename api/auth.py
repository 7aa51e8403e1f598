"""Who may call: the Host check, the origin check (CORS), the caller's station or admin role.

A request naming a host that is not one of the broker's own names is refused
with 421 before anything runs: a page on another site that rebinds its DNS
name to this machine still names its own host (DNS rebinding). A request
from an origin outside the CORS list is refused with 403 before anything
runs (falcon's CORS support only adds headers: a refused origin's request would
still run). A browser names no ``Origin`` on a GET that an ``<img>``, a script
or a link on another site makes, but it says where the request came from in
``Sec-Fetch-Site`` (Fetch Metadata): a request from another site (``cross-site``,
``same-site``) runs only with an ``Origin`` in the list, so such a page cannot
make the broker verify a SAM or read a card; the one exception is a link that
opens a page (the console, Swagger UI: files that change nothing).
Programs (HIS clients) send no fetch metadata and are checked as before.
Loopback callers without a token are the station ``local``; anyone else
needs a station token (but for the health check); admin paths need the admin token,
also on loopback.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import urllib.parse
from typing import Any

import falcon

from api.resources import health
from api.services import ApiServices, token_hash
from broker.config import LOCAL, BrokerConfig

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
WILDCARDS = {"0.0.0.0", "::", ""}  # noqa: S104  # a wildcard bind names no host
ADMIN_PREFIX = "/api/admin/"
# Sec-Fetch-Site of a request that a page of another site made (same-site: another
# port or subdomain of the same site, which is not this origin either)
OTHER_SITES = frozenset({"cross-site", "same-site"})
PAGES = ("/console", "/api/swagger")  # what a link on another site may open
PREFLIGHT_MAX_AGE = "600"


@functools.lru_cache(maxsize=1024)
def is_loopback(address: str) -> bool:
    """Whether a client address is this machine (remembered: a clinic has few callers)."""
    try:
        return ipaddress.ip_address(address.split("%", maxsplit=1)[0]).is_loopback
    except ValueError:
        return address == "localhost"


def origin_allowed(origin: str, cors_hosts: list[str]) -> bool:
    """Localhost origins always; others when their host (or whole origin) is in the list."""
    parsed = urllib.parse.urlsplit(origin)
    host = (parsed.hostname or "").lower()
    if parsed.scheme not in ("http", "https") or not host:
        return False
    if host in LOCAL_HOSTS:
        return True
    bare = f"{parsed.scheme}://{parsed.netloc}".lower()
    return any(entry.lower() in (host, bare) for entry in cors_hosts)


def bare_host(header: str) -> str:
    """``Host``'s name without its port or brackets, lower case, no trailing dot."""
    header = header.strip().lower()
    if header.startswith("["):
        name = header[1:].partition("]")[0]
    else:
        name, colon, port = header.rpartition(":")
        name = name if colon and port.isdigit() and ":" not in name else header
    return name.rstrip(".")


def own_names(config: BrokerConfig) -> frozenset[str]:
    """The names a request may give in ``Host``: loopback, the bound address, ``[server] names``."""
    names = {*LOCAL_HOSTS, bare_host(config.host), *(bare_host(n) for n in config.names)}
    return frozenset(names - WILDCARDS)


class HostMiddleware:
    """421 for a request whose ``Host`` is not one of the broker's own names."""

    def __init__(self, names: frozenset[str]) -> None:
        self._names = names

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Refuse a foreign (or missing) ``Host``, whatever the method and path."""
        host = req.get_header("Host") or ""
        if bare_host(host) not in self._names:
            raise falcon.HTTPError(
                falcon.HTTP_421,
                title="not this host",
                description=f"{host or 'no Host'} is not one of this broker's names "
                "([server] names in its configuration)",
            )


def opens_a_page(req: falcon.Request) -> bool:
    """A top-level navigation (a link followed, not a frame or an image) to ``/``, the
    console or Swagger UI, which serve files and change nothing."""
    path = req.path
    return (
        req.method in ("GET", "HEAD")
        and req.get_header("Sec-Fetch-Mode") == "navigate"
        and req.get_header("Sec-Fetch-Dest") == "document"
        and (path == "/" or any(path == page or path.startswith(f"{page}/") for page in PAGES))
    )


def bearer(req: falcon.Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``, if any."""
    header = req.get_header("Authorization") or ""
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


class OriginMiddleware:
    """Refuse foreign origins; answer preflights; add CORS headers for allowed origins."""

    def __init__(self, services: ApiServices) -> None:
        self._services = services

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """403 for a foreign origin or another site's request without one; a complete
        answer for an allowed preflight."""
        origin = req.get_header("Origin")
        if origin is None:
            site = req.get_header("Sec-Fetch-Site")
            if site in OTHER_SITES and not opens_a_page(req):
                raise falcon.HTTPForbidden(
                    title="origin not allowed",
                    description=f"a page of another site (Sec-Fetch-Site: {site}) made this "
                    "request without naming its Origin; only origins in the CORS list "
                    "(設定 → CORS) may call",
                )
            return
        if not origin_allowed(origin, self._services.broker.settings.cors_hosts):
            raise falcon.HTTPForbidden(
                title="origin not allowed",
                description=f"{origin} is not in the CORS list (設定 → CORS)",
            )
        if req.method == "OPTIONS" and req.get_header("Access-Control-Request-Method"):
            resp.set_header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
            requested = req.get_header("Access-Control-Request-Headers")
            resp.set_header(
                "Access-Control-Allow-Headers", requested or "Content-Type, Authorization"
            )
            resp.set_header("Access-Control-Max-Age", PREFLIGHT_MAX_AGE)
            if req.get_header("Access-Control-Request-Private-Network"):
                resp.set_header("Access-Control-Allow-Private-Network", "true")
            resp.status = falcon.HTTP_204
            resp.complete = True

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool
    ) -> None:
        """Allowed origins get their CORS headers (refused ones never get here with any)."""
        origin = req.get_header("Origin")
        if origin and origin_allowed(origin, self._services.broker.settings.cors_hosts):
            resp.set_header("Access-Control-Allow-Origin", origin)
            resp.append_header("Vary", "Origin")


class CallerMiddleware:
    """Which station the caller is, and whether it may use admin paths."""

    def __init__(self, services: ApiServices) -> None:
        self._services = services

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Set ``req.context.station`` (and ``admin``), or refuse with 401/403."""
        if req.method == "OPTIONS":
            return
        token = bearer(req)
        loopback = is_loopback(req.remote_addr or "")
        req.context.client = req.remote_addr or "-"
        if req.path == health.PATH:
            return  # it tells only whether the broker serves (api/resources/health.py)
        if req.path.startswith(ADMIN_PREFIX):
            self._admin(token)
            req.context.station = LOCAL
            return
        if token is None:
            if not loopback:
                raise falcon.HTTPUnauthorized(
                    title="token required",
                    description="callers off this machine need a station token",
                )
            req.context.station = LOCAL
            return
        station = _lookup(self._services.station_tokens, token)
        if station is None:
            raise falcon.HTTPUnauthorized(title="unknown token")
        req.context.station = station

    def _admin(self, token: str | None) -> None:
        expected = self._services.admin_token_hash
        if token is None:
            raise falcon.HTTPUnauthorized(title="admin token required")
        if expected is None or not hmac.compare_digest(token_hash(token), expected):
            raise falcon.HTTPForbidden(title="not the admin token")


def _lookup(tokens: dict[str, str], token: str) -> str | None:
    digest = token_hash(token)
    for stored, station in tokens.items():
        if hmac.compare_digest(stored, digest):
            return station
    return None
