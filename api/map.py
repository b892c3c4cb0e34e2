"""The command-centre map page: `/map` (and `/`, which leads to it) with its static files.

The page is plain HTML and JavaScript (api/static/map/) with Leaflet and uPlot committed under `vendor/`, so it
works with no internet. It reads the `/v1` API like any client: with a bearer token after logging in (kept in
the page's memory only), or with the viewer key of a share link (`/map?key=…`). The basemap comes from
`HUXIAO_MAP_TILE_URL` (a plain background when unset); its datum (`HUXIAO_MAP_TILE_DATUM`) tells the page
whether to shift features into GCJ-02.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from domain.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static" / "map"
STATIC_PREFIX = "/map/static"

router = APIRouter(include_in_schema=False)


def _assets_version() -> str:
    """A short hash of every static file: asset URLs carry it, so a changed file is a new URL."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


ASSETS_VERSION = _assets_version()
_TEMPLATE = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

# Every response of the page and its files: no Referer leaves the page (its URL may hold a share link's key),
# no sniffing, no framing.
COMMON_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=300, must-revalidate"


def page_config(settings: Settings) -> dict:
    """What the page needs to know about the basemap; no tile URL means a plain background."""
    tiles = settings.map_tile_url
    return {
        "tile_url": tiles,
        "tile_datum": settings.map_tile_datum if tiles else "wgs84",
        "tile_attribution": settings.map_tile_attribution,
        "tile_subdomains": settings.map_tile_subdomains,
        "tile_max_zoom": settings.map_tile_max_zoom,
        "version": ASSETS_VERSION,
    }


def content_security_policy(settings: Settings) -> str:
    """Scripts, styles and data only from this server; images also from the tile server when there is one."""
    images = ["'self'", "data:"]
    if settings.map_tile_url and not settings.map_tile_url.startswith("/"):
        images.append(urlsplit(settings.map_tile_url).scheme + ":")  # hosts may be templated ({s})
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src {' '.join(images)}; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action 'none'")


def render_page(settings: Settings) -> str:
    config = json.dumps(page_config(settings), ensure_ascii=False).replace("<", "\\u003c")
    return _TEMPLATE.replace("__CONFIG__", config).replace("__VERSION__", ASSETS_VERSION)


@router.get("/")
async def root(request: Request) -> Response:
    """The map is the front page; a share link's query string comes along."""
    query = request.url.query
    return RedirectResponse("/map" + (f"?{query}" if query else ""), status_code=307,
                            headers={"Referrer-Policy": "no-referrer"})


@router.get("/map", name="map_page")
async def map_page(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    return HTMLResponse(render_page(settings), headers={
        **COMMON_HEADERS, "Cache-Control": "no-cache", "X-Frame-Options": "DENY",
        "Content-Security-Policy": content_security_policy(settings)})


class MapStatic(StaticFiles):
    """The page's files. URLs carrying the current `v=` are cached for good (the page links them so);
    others are revalidated after five minutes."""

    # Metrics and request logs label a request by its route template (api/observability.py).
    route = SimpleNamespace(path=STATIC_PREFIX + "/{path}")

    async def __call__(self, scope, receive, send) -> None:
        scope["route"] = self.route
        await super().__call__(scope, receive, send)

    def file_response(self, full_path, stat_result, scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = f"v={ASSETS_VERSION}".encode() in scope.get("query_string", b"")
        response.headers["Cache-Control"] = IMMUTABLE if versioned else REVALIDATE
        response.headers.update(COMMON_HEADERS)
        return response


def install(app) -> None:
    """The page's routes and its static files."""
    app.include_router(router)
    app.mount(STATIC_PREFIX, MapStatic(directory=STATIC_DIR), name="map-static")
