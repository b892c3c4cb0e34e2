"""OGC API – Features (Part 1: Core, GeoJSON, HTML) under `/ogc`, for GIS clients (QGIS, GDAL/ogr) and
dashboards.

`/ogc` (landing page) and `/ogc/conformance` need no credentials; everything else takes the API's own
(`Authorization: Bearer <token>` or `X-API-Key: <key>`) and shows the caller's jurisdictions only. Answers are
JSON (`application/geo+json` for features, `application/json` for metadata) unless the client prefers HTML
(`Accept: text/html`, as browsers send) or asks with `f=html`; `f=json` / `f=geojson` override the header.

Bad values of the parameters this server knows are 400 problem+json naming the parameter (the OGC rule);
parameters it does not know are ignored, since GIS clients add their own. The items of each collection are
also hot routes (api/lean.py): the same endpoint, reached without FastAPI's dependency solving.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from api.auth import SECURITY, CurrentCaller, authenticate
from api.deps import Reads
from api.problems import problem
from api.schemas import PROBLEM_RESPONSES
from domain import features
from domain.callers import Caller
from domain.errors import InvalidInput

router = APIRouter(prefix="/ogc", tags=["ogc"], responses=PROBLEM_RESPONSES)
lean_router = APIRouter()

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    # Not oas30: the served document is OpenAPI 3.1.
]
TITLE = "护校 huxiao — OGC API – Features"
DESCRIPTION = ("Schools, school zones, posts, incidents and (for commanders) check-ins of your jurisdictions, "
               "as GeoJSON in WGS-84 (CRS84).")
OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.1"


# --- content negotiation -----------------------------------------------------------------------------------

def _accepts_html(accept: str) -> bool:
    """True when the Accept header ranks HTML above JSON (`*/*` counts for JSON, the default)."""
    best_html = best_json = 0.0
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media in ("text/html", "application/xhtml+xml"):
            best_html = max(best_html, q)
        elif media in (GEOJSON, JSON, "application/*", "*/*") or media.endswith("+json"):
            best_json = max(best_json, q - (0.001 if media in ("*/*", "application/*") else 0))
    return best_html > best_json


def wants_html(request: Request) -> bool:
    """`f=html|json|geojson` when given, else the Accept header."""
    f = request.query_params.get("f")
    if f is not None and f != "":
        if f == "html":
            return True
        if f in ("json", "geojson"):
            return False
        raise InvalidInput("f must be json, geojson or html", field="f")
    return _accepts_html(request.headers.get("accept", ""))


def bad_parameter(request: Request, exc: InvalidInput) -> Response:
    """An invalid query parameter: 400 problem+json naming it (OGC API – Features, /req/core/query-param-invalid)."""
    return problem(400, detail=exc.detail, kind="invalid-parameter", title="Invalid parameter",
                   errors_=exc.errors or None, request_id=getattr(request.state, "request_id", None))


# --- links ---------------------------------------------------------------------------------------------------

def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _url(request: Request, path: str, **changes: str | None) -> str:
    """`path` under /ogc with the request's own query parameters, changed by `changes` (None drops one)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    params += [(k, v) for k, v in changes.items() if v is not None]
    query = urlencode(params)
    return _base(request) + path + (f"?{query}" if query else "")


def _link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": media_type}
    if title:
        out["title"] = title
    return out


def _self_links(request: Request, path: str, json_type: str, as_html: bool) -> list[dict[str, str]]:
    json_link = _url(request, path, f="json" if json_type == JSON else "geojson")
    html_link = _url(request, path, f="html")
    if as_html:
        return [_link(html_link, "self", HTML, "this document"), _link(json_link, "alternate", json_type, "as JSON")]
    return [_link(json_link, "self", json_type, "this document"), _link(html_link, "alternate", HTML, "as HTML")]


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _json(content: Any, media_type: str = JSON) -> Response:
    return Response(orjson.dumps(content), media_type=media_type)


# --- HTML ----------------------------------------------------------------------------------------------------

_STYLE = """body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}nav{margin-bottom:1rem}code,pre{background:#f6f6f6}.paging a{margin-right:1rem}"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _page(request: Request, title: str, body: str, links: list[dict[str, str]]) -> Response:
    crumbs = [("/ogc", "OGC API"), ("/ogc/collections", "collections")]
    nav = " › ".join(f'<a href="{_e(_base(request) + p[4:])}?f=html">{_e(t)}</a>' for p, t in crumbs)
    alternates = " ".join(f'<a href="{_e(lk["href"])}" type="{_e(lk["type"])}">{_e(lk.get("title") or lk["rel"])}</a>'
                          for lk in links if lk["rel"] == "alternate")
    text = (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
            f'<body><nav>{nav}</nav><h1>{_e(title)}</h1>{body}<p>{alternates}</p></body></html>')
    return Response(text, media_type="text/html; charset=utf-8")


def _link_list(links: list[dict[str, str]]) -> str:
    items = "".join(f'<li><a href="{_e(lk["href"])}">{_e(lk.get("title") or lk["rel"])}</a> '
                    f'<small>({_e(lk["rel"])}, {_e(lk["type"])})</small></li>' for lk in links)
    return f"<ul>{items}</ul>"


def _extent_html(ext: dict | None) -> str:
    if not ext:
        return "<p>No data yet.</p>"
    parts = []
    if "spatial" in ext:
        parts.append(f"<p>Extent: <code>{_e(ext['spatial']['bbox'][0])}</code> (CRS84)</p>")
    if "temporal" in ext:
        start, end = ext["temporal"]["interval"][0]
        parts.append(f"<p>From {_e(start)} to {_e(end)}</p>")
    return "".join(parts)


def _features_html(features_: list[dict]) -> str:
    if not features_:
        return "<p>No features.</p>"
    names: list[str] = []
    for f in features_:
        for k in f.get("properties") or {}:
            if k not in names:
                names.append(k)
    head = "<tr><th>id</th><th>geometry</th>" + "".join(f"<th>{_e(n)}</th>" for n in names) + "</tr>"
    rows = []
    for f in features_:
        geometry = f.get("geometry") or {}
        where = geometry.get("coordinates") if geometry.get("type") == "Point" else geometry.get("type")
        props = f.get("properties") or {}
        cells = "".join(f"<td>{_e(_cell(props.get(n)))}</td>" for n in names)
        rows.append(f'<tr><td><a href="items/{_e(f["id"])}?f=html">{_e(f["id"])}</a></td>'
                    f"<td>{_e(where)}</td>{cells}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


# --- collection metadata -------------------------------------------------------------------------------------

def _extent(ext: features.Extent) -> dict | None:
    out: dict[str, Any] = {}
    if ext.bbox is not None:
        out["spatial"] = {"bbox": [list(ext.bbox)], "crs": CRS84}
    if ext.start is not None or ext.end is not None:
        out["temporal"] = {"interval": [[_iso(ext.start), _iso(ext.end)]], "trs": GREGORIAN}
    return out or None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _collection_json(request: Request, c: features.Collection, ext: features.Extent) -> dict[str, Any]:
    base = _base(request)
    out: dict[str, Any] = {
        "id": c.id, "title": c.title, "description": c.description, "itemType": "feature", "crs": [CRS84],
        "links": [
            _link(f"{base}/collections/{c.id}?f=json", "self", JSON, c.title),
            _link(f"{base}/collections/{c.id}?f=html", "alternate", HTML, c.title + " as HTML"),
            _link(f"{base}/collections/{c.id}/items?f=geojson", "items", GEOJSON, c.title + " (GeoJSON)"),
            _link(f"{base}/collections/{c.id}/items?f=html", "items", HTML, c.title + " (HTML)"),
        ],
    }
    extent = _extent(ext)
    if extent:
        out["extent"] = extent
    return out


# --- routes --------------------------------------------------------------------------------------------------

@router.get("", summary="Landing page (no credentials needed)", response_model=None)
async def landing(request: Request) -> Response:
    try:
        as_html = wants_html(request)
    except InvalidInput as exc:
        return bad_parameter(request, exc)
    base = _base(request)
    root = str(request.base_url).rstrip("/")
    links = _self_links(request, "", JSON, as_html) + [
        _link(root + "/openapi.json", "service-desc", OPENAPI_MEDIA_TYPE, "the API definition (OpenAPI 3.1)"),
        _link(root + "/docs", "service-doc", HTML, "the API documentation"),
        _link(base + "/conformance", "conformance", JSON, "conformance classes"),
        _link(base + "/collections", "data", JSON, "the collections"),
    ]
    if as_html:
        body = f"<p>{_e(DESCRIPTION)}</p>{_link_list(links)}"
        return _page(request, TITLE, body, links)
    return _json({"title": TITLE, "description": DESCRIPTION, "links": links})


@router.get("/conformance", summary="Conformance classes (no credentials needed)", response_model=None)
async def conformance(request: Request) -> Response:
    try:
        as_html = wants_html(request)
    except InvalidInput as exc:
        return bad_parameter(request, exc)
    if as_html:
        items = "".join(f"<li><code>{_e(c)}</code></li>" for c in CONFORMANCE)
        return _page(request, "Conformance", f"<ul>{items}</ul>", _self_links(request, "/conformance", JSON, True))
    return _json({"conformsTo": CONFORMANCE})


@router.get("/collections", summary="The collections your credential may read", response_model=None)
async def collections(request: Request, caller: CurrentCaller, db: Reads) -> Response:
    try:
        as_html = wants_html(request)
    except InvalidInput as exc:
        return bad_parameter(request, exc)
    visible = features.visible_collections(caller)
    extents = await features.extents(db, caller=caller, collections=visible)
    links = _self_links(request, "/collections", JSON, as_html)
    listed = [_collection_json(request, c, extents[c.id]) for c in visible]
    if as_html:
        rows = "".join(f'<tr><td><a href="collections/{_e(c["id"])}?f=html">{_e(c["title"])}</a></td>'
                       f'<td>{_e(c["description"])}</td>'
                       f'<td><a href="collections/{_e(c["id"])}/items?f=html">items</a></td></tr>' for c in listed)
        return _page(request, "Collections", f"<table><tr><th>collection</th><th>description</th><th></th></tr>"
                                             f"{rows}</table>", links)
    return _json({"links": links, "collections": listed})


@router.get("/collections/{collection_id}", summary="One collection: its extent and links", response_model=None)
async def collection(collection_id: str, request: Request, caller: CurrentCaller, db: Reads) -> Response:
    c = features.collection_for(caller, collection_id)
    try:
        as_html = wants_html(request)
    except InvalidInput as exc:
        return bad_parameter(request, exc)
    out = _collection_json(request, c, await features.extent(db, caller=caller, collection=c))
    if as_html:
        filters = "".join(f"<li><code>{_e(n)}</code>: {_e(f.description)}</li>" for n, f in c.filters.items())
        temporal = (f"<li><code>datetime</code>: on <code>{_e(c.temporal_property)}</code></li>"
                    if c.temporal_property else "")
        body = (f"<p>{_e(c.description)}</p>{_extent_html(out.get('extent'))}"
                f'<p><a href="{_e(c.id)}/items?f=html">Browse the items</a></p>'
                f"<h2>Query parameters of /items</h2><ul><li><code>bbox</code>, <code>limit</code> "
                f"(1–{features.MAX_LIMIT}, default {features.DEFAULT_LIMIT})</li>{temporal}{filters}</ul>")
        return _page(request, c.title, body, out["links"])
    return _json(out)


ITEMS_PARAMETERS = [
    {"name": "bbox", "in": "query", "required": False, "style": "form", "explode": False,
     "description": "minlon,minlat,maxlon,maxlat in WGS-84 degrees (CRS84); features that meet the box.",
     "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}},
    {"name": "datetime", "in": "query", "required": False,
     "description": "An RFC 3339 instant or a closed interval `start/end` (`..` for an open end): incidents on "
                    "`alarm_at`, check-ins on `recorded_at`; other collections have no time and ignore it.",
     "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "required": False, "description": "Features per page.",
     "schema": {"type": "integer", "minimum": 1, "maximum": features.MAX_LIMIT,
                "default": features.DEFAULT_LIMIT}},
    {"name": "cursor", "in": "query", "required": False,
     "description": "Opaque position; follow the `next`/`prev` links rather than making one.",
     "schema": {"type": "string"}},
    {"name": "f", "in": "query", "required": False, "description": "Override the Accept header.",
     "schema": {"type": "string", "enum": ["json", "geojson", "html"]}},
    *[{"name": name, "in": "query", "required": False,
       "description": f"Property filter ({', '.join(sorted(c.id for c in features.COLLECTIONS.values() if name in c.filters))}).",
       "schema": {"type": "string"}}
      for name in sorted({n for c in features.COLLECTIONS.values() for n in c.filters})],
]


async def _items(request: Request, collection_id: str) -> Response:
    caller = await authenticate(request)
    c = features.collection_for(caller, collection_id)
    try:
        as_html = wants_html(request)
        q = features.read_items_query(c, request.query_params)
        page = await features.items(request.app.state.listing_db, caller=caller, collection=c, q=q)
    except InvalidInput as exc:
        return bad_parameter(request, exc)
    return _items_response(request, caller, c, page, as_html)


def _items_response(request: Request, caller: Caller, c: features.Collection, page: features.Page,
                    as_html: bool) -> Response:
    path = f"/collections/{c.id}/items"
    kind = "html" if as_html else "geojson"
    links = _self_links(request, path, GEOJSON, as_html)
    if page.next_cursor:
        links.append(_link(_url(request, path, cursor=page.next_cursor, f=kind), "next",
                           HTML if as_html else GEOJSON, "next page"))
    if page.prev_cursor:
        links.append(_link(_url(request, path, cursor=page.prev_cursor, f=kind), "prev",
                           HTML if as_html else GEOJSON, "previous page"))
    links.append(_link(f"{_base(request)}/collections/{c.id}", "collection", JSON, c.title))
    head: dict[str, Any] = {"type": "FeatureCollection", "numberReturned": len(page.features)}
    if page.number_matched is not None:
        head["numberMatched"] = page.number_matched
    head["timeStamp"] = _now_text()
    head["links"] = links
    if as_html:
        rows = [orjson.loads(f) for f in page.features]
        paging = " ".join(f'<a href="{_e(lk["href"])}">{_e(lk["title"])}</a>'
                          for lk in links if lk["rel"] in ("prev", "next"))
        matched = f" of {page.number_matched}" if page.number_matched is not None else ""
        body = (f"<p>{len(rows)}{matched} features</p><p class=paging>{paging}</p>{_features_html(rows)}"
                f"<p class=paging>{paging}</p>")
        return _page(request, f"{c.title}: items", body, links)
    body = orjson.dumps(head)[:-1] + b',"features":[' + ",".join(page.features).encode() + b"]}"
    return Response(body, media_type=GEOJSON)


@router.get("/collections/{collection_id}/items", response_model=None,
            summary="The collection's features, keyset-paged (follow the next/prev links)",
            openapi_extra={"security": SECURITY, "parameters": ITEMS_PARAMETERS},
            responses={200: {"content": {GEOJSON: {"schema": {"type": "object"}}, HTML: {}}},
                       400: {"description": "A parameter is invalid"}})
async def items(collection_id: str, request: Request) -> Response:
    return await _items(request, collection_id)


def _hot_items(collection_id: str):
    async def hot_items(request: Request) -> Response:
        return await _items(request, collection_id)
    return hot_items


for _cid in features.COLLECTIONS:
    lean_router.add_api_route(f"/ogc/collections/{_cid}/items", _hot_items(_cid), methods=["GET"],
                              include_in_schema=False, response_model=None)


@router.get("/collections/{collection_id}/items/{feature_id}", response_model=None,
            summary="One feature", responses={200: {"content": {GEOJSON: {"schema": {"type": "object"}}, HTML: {}}}})
async def item(collection_id: str, feature_id: str, request: Request, caller: CurrentCaller, db: Reads) -> Response:
    c = features.collection_for(caller, collection_id)
    try:
        as_html = wants_html(request)
    except InvalidInput as exc:
        return bad_parameter(request, exc)
    text = await features.item(db, caller=caller, collection=c, feature_id=feature_id)
    path = f"/collections/{c.id}/items/{feature_id}"
    links = _self_links(request, path, GEOJSON, as_html) + [
        _link(f"{_base(request)}/collections/{c.id}", "collection", JSON, c.title)]
    if as_html:
        feature = orjson.loads(text)
        props = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_cell(v))}</td></tr>"
                        for k, v in (feature.get("properties") or {}).items())
        body = (f"<table>{props}</table><h2>Geometry</h2>"
                f"<pre>{_e(orjson.dumps(feature.get('geometry')).decode())}</pre>")
        return _page(request, f"{c.title}: {feature_id}", body, links)
    body = text.encode()
    return Response(body[:-1] + b',"links":' + orjson.dumps(links) + b"}", media_type=GEOJSON)
