"""OWASP API8:2023 — security misconfiguration: CORS from an allow-list in the settings, security headers on
every answer, no debug output, `/metrics` not public.
"""

from __future__ import annotations

import httpx
import pytest

from api.main import create_app
from domain.settings import Settings


@pytest.fixture(scope="module")
async def cors_client(settings):
    app = create_app(Settings(**{**settings.model_dump(), "cors_origins": "https://screen.example.org"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_cors_answers_only_the_allowed_origins(cors_client, client):
    ok = await cors_client.options("/v1/checkins", headers={
        "Origin": "https://screen.example.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://screen.example.org"
    evil = await cors_client.options("/v1/checkins", headers={
        "Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in evil.headers
    # the hot endpoints answer allowed origins too (they bypass the app's middleware stack)
    hot = await cors_client.get("/v1/me", headers={"Origin": "https://screen.example.org"})
    assert hot.status_code == 401 and hot.headers["access-control-allow-origin"] == "https://screen.example.org"
    # by default, no origin at all
    default = await client.options("/v1/checkins", headers={
        "Origin": "https://screen.example.org", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in default.headers


@pytest.mark.parametrize("path", ["/healthz", "/v1/me", "/v1/schools", "/no/such/route", "/openapi.json"])
async def test_every_answer_carries_the_security_headers(client, path):
    r = await client.get(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers.get_list("x-content-type-options") == ["nosniff"]


async def test_no_debug_output(app, client):
    assert app.debug is False
    r = await client.post("/v1/incidents", content=b"{not json", headers={"Content-Type": "application/json",
                                                                         "Authorization": "Bearer x"})
    assert r.status_code in (400, 401) and "Traceback" not in r.text


async def test_metrics_are_not_public(app, client, settings):
    assert (await client.get("/metrics")).status_code == 200  # the test client is a loopback client
    proxied = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.1"})
    assert proxied.status_code == 403 and proxied.headers["content-type"].startswith("application/problem+json")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("203.0.113.2", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as remote:
        assert (await remote.get("/metrics")).status_code == 403
        app.state.settings = Settings(**{**settings.model_dump(), "metrics_token": "s3cret-metrics-token"})
        try:
            assert (await remote.get("/metrics")).status_code == 403
            ok = await remote.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
            assert ok.status_code == 200 and "huxiao_http_requests_total" in ok.text
        finally:
            app.state.settings = settings
