"""The officers' phone page: `/m/` (and `/m`, which leads to it), a small progressive web app.

Plain HTML and JavaScript (api/static/m/) with `idb` committed under `vendor/`, plus the map page's vendored
Leaflet, fetch-event-source and gcj02.js: nothing to build, nothing fetched from the internet. A service worker
(`/m/sw.js`, scope `/m/`) keeps the page and its files, so it opens with no network; check-ins made offline wait
in IndexedDB and are replayed with `POST /v1/checkins/batch` (same UUIDs) when the network is back. The page
speaks to `/v1` like any client, with the officer's bearer token; its refresh token stays on the phone so a
reload without network keeps the login.

Service workers and geolocation need a secure context: HTTPS, or 127.0.0.1 (see README, "HTTPS").
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from api import map as map_page
from domain.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static" / "m"
STATIC_PREFIX = "/m/static"
SHARED_PREFIX = map_page.STATIC_PREFIX  # Leaflet, fetch-event-source and gcj02.js come from the map page
ALARM_RADIUS_M = 1000  # alarms within this of one of today's posts are announced with sound and vibration

router = APIRouter(include_in_schema=False)


def _assets_version() -> str:
    """A short hash of the page's files and the map files it shares: a change is a new service worker."""
    digest = hashlib.sha256(map_page.ASSETS_VERSION.encode())
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


ASSETS_VERSION = _assets_version()
_TEMPLATE = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
_WORKER = (STATIC_DIR / "sw.js").read_text(encoding="utf-8")

# What the service worker keeps for offline use (the page itself is kept as it is fetched).
PRECACHE = [
    "/m/",
    f"{STATIC_PREFIX}/app.js",
    f"{STATIC_PREFIX}/i18n.js",
    f"{STATIC_PREFIX}/app.css",
    f"{STATIC_PREFIX}/icon.svg",
    f"{STATIC_PREFIX}/vendor/idb/index.js",
    "/m/manifest.webmanifest",
    f"{SHARED_PREFIX}/gcj02.js",
    f"{SHARED_PREFIX}/vendor/leaflet/leaflet.js",
    f"{SHARED_PREFIX}/vendor/leaflet/leaflet.css",
    f"{SHARED_PREFIX}/vendor/leaflet/images/marker-icon.png",
    f"{SHARED_PREFIX}/vendor/leaflet/images/marker-icon-2x.png",
    f"{SHARED_PREFIX}/vendor/leaflet/images/marker-shadow.png",
    f"{SHARED_PREFIX}/vendor/fetch-event-source/index.js",
    f"{SHARED_PREFIX}/vendor/fetch-event-source/fetch.js",
    f"{SHARED_PREFIX}/vendor/fetch-event-source/parse.js",
]

MANIFEST = {
    "name": "护校 · 民警", "short_name": "护校", "lang": "zh-CN", "start_url": "/m/", "scope": "/m/",
    "display": "standalone", "background_color": "#f4f6f8", "theme_color": "#16324f",
    "icons": [{"src": f"{STATIC_PREFIX}/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"}],
}


def page_config(settings: Settings) -> dict:
    """What the page needs: the basemap (as the map page), the alarm radius, the heartbeat cover."""
    return {**map_page.page_config(settings), "version": ASSETS_VERSION, "alarm_radius_m": ALARM_RADIUS_M,
            "heartbeat_cover_s": settings.heartbeat_cover_s}


def content_security_policy(settings: Settings) -> str:
    """The map page's policy (scripts, styles, data from this server only), plus its worker and manifest."""
    return (map_page.content_security_policy(settings)
            + "; worker-src 'self'; manifest-src 'self'")


def render_page(settings: Settings) -> str:
    config = json.dumps(page_config(settings), ensure_ascii=False).replace("<", "\\u003c")
    return _TEMPLATE.replace("__CONFIG__", config).replace("__VERSION__", ASSETS_VERSION)


def render_worker() -> str:
    return _WORKER.replace("__VERSION__", ASSETS_VERSION).replace("__PRECACHE__", json.dumps(PRECACHE))


@router.get("/m")
async def phone_root() -> Response:
    """The page lives at `/m/`, inside its service worker's scope."""
    return RedirectResponse("/m/", status_code=307, headers=map_page.COMMON_HEADERS)


@router.get("/m/", name="phone_page")
async def phone_page(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    return HTMLResponse(render_page(settings), headers={
        **map_page.COMMON_HEADERS, "Cache-Control": "no-cache", "X-Frame-Options": "DENY",
        "Content-Security-Policy": content_security_policy(settings)})


@router.get("/m/sw.js")
async def service_worker() -> Response:
    """Never cached by the browser's HTTP cache, so a new version of the page is found on the next visit."""
    return Response(render_worker(), media_type="text/javascript", headers={
        **map_page.COMMON_HEADERS, "Cache-Control": "no-cache"})


@router.get("/m/manifest.webmanifest")
async def manifest() -> Response:
    return Response(json.dumps(MANIFEST, ensure_ascii=False), media_type="application/manifest+json",
                    headers={**map_page.COMMON_HEADERS, "Cache-Control": map_page.REVALIDATE})


class PhoneStatic(map_page.MapStatic):
    """The page's files, cached as the map page's are."""

    route = SimpleNamespace(path=STATIC_PREFIX + "/{path}")

    def file_response(self, full_path, stat_result, scope, status_code: int = 200) -> Response:
        response = StaticFiles.file_response(self, full_path, stat_result, scope, status_code)
        versioned = f"v={ASSETS_VERSION}".encode() in scope.get("query_string", b"")
        response.headers["Cache-Control"] = map_page.IMMUTABLE if versioned else map_page.REVALIDATE
        response.headers.update(map_page.COMMON_HEADERS)
        return response


def install(app) -> None:
    """The page's routes and its static files."""
    app.include_router(router)
    app.mount(STATIC_PREFIX, PhoneStatic(directory=STATIC_DIR), name="phone-static")
