"""Every error answer is RFC 9457 problem+json; bad input is a 4xx, never a 500."""

from __future__ import annotations

PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    return body


async def test_unknown_route_is_a_404_problem(client):
    body = assert_problem(await client.get("/v1/no-such-thing"), 404)
    assert "/v1/no-such-thing" in body["detail"]


async def test_wrong_method_is_a_405_problem(client):
    assert_problem(await client.delete("/healthz"), 405)


async def test_oversized_body_is_a_413_problem(client):
    body = b'{"a": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    r = await client.post("/v1/auth/token", content=body, headers={"content-type": "application/json"})
    assert_problem(r, 413)


async def test_oversized_streamed_body_without_length_is_a_413_problem(client):
    async def chunks():
        for _ in range(20):
            yield b"x" * 100_000

    r = await client.post("/v1/jurisdictions", content=chunks(), headers={"content-type": "application/json"})
    assert_problem(r, 413)


async def test_request_id_is_echoed_or_generated(client):
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz")
    assert len(r.headers["x-request-id"]) >= 16


async def test_problem_carries_the_request_id(client):
    body = assert_problem(await client.get("/nope", headers={"X-Request-ID": "rid-42"}), 404)
    assert body["request_id"] == "rid-42"


async def test_unexpected_exception_is_a_500_problem_without_stack_trace(app, client):
    async def boom():
        raise RuntimeError("secret internals")

    app.add_api_route("/__test_boom", boom)
    try:
        body = assert_problem(await client.get("/__test_boom"), 500)
        assert "secret internals" not in str(body)
        assert "Traceback" not in str(body)
    finally:
        app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", "") != "/__test_boom"]


async def test_malformed_json_is_a_400_problem(client):
    r = await client.post("/v1/jurisdictions", content=b'{"code": "x",', headers={"content-type": "application/json"})
    body = assert_problem(r, 400)
    assert "JSON" in body["detail"]


async def test_wrong_content_type_is_a_415_problem(client):
    r = await client.post("/v1/jurisdictions", content=b"code=x", headers={"content-type": "text/plain"})
    assert_problem(r, 415)


async def test_unknown_query_value_is_a_422_problem_naming_the_parameter(app, client):
    from tests.factories import make_person, make_tree

    tree = await make_tree(app)
    viewer = await make_person(app, client, role="viewer", jurisdiction_code=tree.code)
    r = await client.get("/v1/zones/lookup", params={"lon": "east", "lat": 29}, headers=viewer.headers)
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "lon" and body["errors"][0]["in"] == "query"
    r = await client.get("/v1/schools", params={"kind": "university"}, headers=viewer.headers)
    assert assert_problem(r, 422)["errors"][0]["field"] == "kind"
