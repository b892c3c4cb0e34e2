"""OWASP API9:2023 — improper inventory management: every route the app serves is in the OpenAPI document (or on
a short, explained list of undocumented ones), and every documented operation is exercised by some test."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute

# Served but not in the OpenAPI document, on purpose.
UNDOCUMENTED = {
    "/": "redirects to the map page",
    "/map": "the map page (HTML)",
    "/m": "redirects to the officers' phone page",
    "/m/": "the officers' phone page (HTML)",
    "/m/sw.js": "the phone page's service worker",
    "/m/manifest.webmanifest": "the phone page's web app manifest",
    "/ogc/collections/{collection}/items": "per-collection hot routes; the templated route documents them",
}
TESTS = Path(__file__).parent


def _pattern(path: str) -> re.Pattern:
    """A documented path as it appears in test code: parameters as f-string fields or literal values."""
    parts = re.split(r"\{[^}]+\}", path)
    value = r"(?:[^/\"'\s{}]+|\{[^}]*\})"
    return re.compile(value.join(re.escape(p) for p in parts) + r"(?![A-Za-z0-9_\-])")


async def test_every_served_route_is_documented(app, client):
    spec = (await client.get("/openapi.json")).json()
    documented = set(spec["paths"])
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            assert route.path in documented, route.path
    hidden = {r.path for r in app.routes if isinstance(r, APIRoute) and not r.include_in_schema}
    hidden = {re.sub(r"/collections/[a-z\-]+/items$", "/collections/{collection}/items", p) for p in hidden}
    assert hidden <= set(UNDOCUMENTED) | {p for p in hidden if p.startswith("/map/")}, hidden - set(UNDOCUMENTED)


async def test_every_documented_operation_is_exercised_by_a_test(client):
    spec = (await client.get("/openapi.json")).json()
    sources = "\n".join(p.read_text() for p in TESTS.glob("test_*.py"))
    untested = [path for path in spec["paths"] if not _pattern(path).search(sources)]
    assert untested == [], f"documented but never called by a test: {untested}"
