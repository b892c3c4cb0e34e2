"""OpenAPI links: how the answer of a create feeds the operations on what it created.

`POST /v1/schools` answers a School whose `id` is the `school_id` of `GET/PATCH/DELETE /v1/schools/{school_id}`,
of `POST /v1/schools/{school_id}/posts` and so on. Clients' code generators and Schemathesis' stateful phase
follow these links (a create, then reads and changes of the very object created, instead of random ids).

The links are derived from the routes, so a new resource gets them without a line here: a `POST …/{name}`
answering 201 links to every operation under `/v1/{name}/{param}`; the parameters of the create's own path
are passed on from the request, the new one is taken from the answer's `id` (or the field named like the
parameter, e.g. a jurisdiction's `code`).
"""

from __future__ import annotations

import re
from typing import Any

PARAM = re.compile(r"\{([^}]+)\}")
METHODS = ("get", "put", "post", "patch", "delete")


def _schema(spec: dict, ref_or_schema: dict) -> dict:
    ref = ref_or_schema.get("$ref")
    if ref:
        return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return ref_or_schema


def _answer_fields(spec: dict, operation: dict) -> set[str]:
    created = operation.get("responses", {}).get("201", {})
    schema = created.get("content", {}).get("application/json", {}).get("schema")
    return set(_schema(spec, schema).get("properties", {})) if schema else set()


def _link_name(method: str, path: str) -> str:
    words = [w for w in re.split(r"[/{}\-_]+", path) if w and w != "v1"]
    return method.capitalize() + "".join(w.capitalize() for w in words)


def _targets(spec: dict, resource: str) -> list[tuple[str, str, str]]:
    """(path, method, the new parameter) of every operation under `/v1/{resource}/{param}` or any path ending
    in `/{resource}/{param}…` (e.g. a jurisdiction's non-school days)."""
    found = []
    for path, operations in spec["paths"].items():
        m = re.search(rf"/{re.escape(resource)}/\{{([^}}]+)\}}(/|$)", path)
        if not m:
            continue
        for method in METHODS:
            if method in operations:
                found.append((path, method, m.group(1)))
    return found


def add_links(spec: dict[str, Any]) -> dict[str, Any]:
    """Add `links` to the 201 answer of every create whose object other operations take by id."""
    for source_path, operations in spec["paths"].items():
        create = operations.get("post")
        if not create or "201" not in create.get("responses", {}):
            continue
        fields = _answer_fields(spec, create)
        resource = source_path.rstrip("/").rsplit("/", 1)[-1]
        if not fields or PARAM.fullmatch(resource):
            continue
        source_params = set(PARAM.findall(source_path))
        links: dict[str, Any] = {}
        for path, method, new_param in _targets(spec, resource):
            if new_param in fields:
                field = new_param
            elif "id" in fields:
                field = "id"
            else:
                continue
            params: dict[str, str] = {}
            for p in PARAM.findall(path):
                if p == new_param:
                    params[p] = f"$response.body#/{field}"
                elif p in source_params:
                    params[p] = f"$request.path.{p}"
                else:
                    break
            else:
                target = spec["paths"][path][method]
                links[_link_name(method, path)] = {
                    "operationId": target["operationId"],
                    "parameters": params,
                    "description": f"The `{new_param}` of the object just created.",
                }
        if links:
            create["responses"]["201"]["links"] = links
    return spec


def install(app) -> None:
    """Serve the app's OpenAPI document with the links added (built once, like FastAPI's own)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_links(build())
        return app.openapi_schema

    app.openapi = openapi
