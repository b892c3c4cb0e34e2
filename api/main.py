"""The huxiao application: `api.main:app`."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from api import campaigns as campaigns_api
from api import checkins as checkins_api
from api import duty as duty_api
from api import exports as exports_api
from api import hazards as hazards_api
from api import identity, lean, mobile, openapi_links, operations, problems, schools
from api import incidents as incidents_api
from api import key_persons as key_persons_api
from api import map as map_page
from api import ogc as ogc_api
from api import phone as phone_page
from api import reports as reports_api
from api import share_links as share_links_api
from api import statistics as statistics_api
from api import stream as stream_api
from api import trackers as trackers_api
from api import units as units_api
from api import venues as venues_api
from api import webhooks as webhooks_api
from api.observability import RequestContext, configure_logging
from domain import paging
from domain.database import Db, create_pool
from domain.photos import LocalDiskStore
from domain.settings import Settings, get_settings

BATCH_PATH_SUFFIXES = ("/batch", "/import")
NON_JSON_BODY_PATHS = ("/v1/auth/",)
# Uploads whose body is a file (a photo, a spreadsheet), each under its own size limit.
PHOTO_UPLOAD_PATH = re.compile(r"^/v1/hazards/[^/]+/photos$")
SPREADSHEET_IMPORT_PATHS = ("/v1/hazards/import", "/v1/venues/import", "/v1/inspections/import")


def takes_any_body(path: str) -> bool:
    """Paths whose body is a file rather than JSON (the endpoint decides by the content what it is)."""
    return path in SPREADSHEET_IMPORT_PATHS or PHOTO_UPLOAD_PATH.match(path) is not None

DESCRIPTION = """
护校 — the API behind police and school-guard patrols around schools: 200-metre zones,
duty and check-ins, incidents and the 1/3/5-minute rapid-response rule.

Errors are RFC 9457 `application/problem+json`. Lists are keyset-paged with `limit` and an opaque
`cursor`. Points take `crs` = `wgs84` (default) | `gcj02` | `bd09`; responses are WGS-84.
"""


class Huxiao(FastAPI):
    """The FastAPI app, with the hot endpoints' requests (api/lean.py) sent straight to their endpoints
    through the same RequestContext (request id, metrics, body cap, last-resort errors)."""

    hot_paths: lean.HotRoutes
    hot_stack: RequestContext
    tracker_port: int | None = None
    tracker_path: str = "/osmand"

    async def __call__(self, scope, receive, send) -> None:
        if self.tracker_port is not None and scope["type"] == "http" \
                and (scope.get("server") or (None, None))[1] == self.tracker_port:
            # The tracker port (Traccar's 5055) serves positions only: every path there is the OsmAnd endpoint,
            # so the app's server URL can be just `http://host:5055`.
            scope = {**scope, "path": self.tracker_path, "raw_path": self.tracker_path.encode()}
        if scope["type"] == "http" and (scope["method"], scope["path"]) in self.hot_paths:
            scope["app"] = self
            await self.hot_stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    paging.use_key(settings.resolved_jwt_secret())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        pool = await create_pool(settings, min_size=0)
        app.state.pool = pool
        app.state.db = Db(pool, acquire_timeout_s=settings.db_pool_timeout_s)
        ingest_pool = await create_pool(settings, min_size=0, max_size=settings.db_ingest_pool_size,
                                        plan_cache_mode="force_generic_plan")
        app.state.ingest_db = Db(ingest_pool, acquire_timeout_s=settings.db_pool_timeout_s)
        # Listings whose best plan depends on the values (a bbox that matches 10 rows or 100,000): each
        # statement planned for its own values (the generic-plan trap in PERFORMANCE.md).
        listing_pool = await create_pool(settings, min_size=0, max_size=settings.db_listing_pool_size,
                                         plan_cache_mode="force_custom_plan")
        app.state.listing_db = Db(listing_pool, acquire_timeout_s=settings.db_pool_timeout_s)
        # live feed listener (and the webhook outbox's wake-ups); retries in the background
        await stream_api.start_hub(app, settings, also_listen=webhooks_api.create_dispatcher(app))
        await duty_api.start_duty_tasks(app)  # check-in partitions ahead; uncovered-post sweep every minute
        await webhooks_api.start_dispatcher(app)  # signed deliveries from the outbox, missed-tier sweep
        try:
            yield
        finally:
            await webhooks_api.stop_dispatcher(app)
            await duty_api.stop_duty_tasks(app)
            await stream_api.stop_hub(app)
            await listing_pool.close()
            await ingest_pool.close()
            await pool.close()

    app = Huxiao(
        title="huxiao",
        version="1.0.0",
        summary="School-perimeter patrol and rapid response",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.photo_store = LocalDiskStore(settings.resolved_photo_dir())
    problems.install(app)

    def body_limit_for(path: str) -> int:
        if PHOTO_UPLOAD_PATH.match(path):
            return settings.photo_max_bytes
        return settings.max_batch_body_bytes if path.endswith(BATCH_PATH_SUFFIXES) else settings.max_body_bytes

    context = {"max_body_bytes": settings.max_body_bytes, "body_limit_for": body_limit_for,
               "retry_after_s": settings.retry_after_s, "json_paths_exempt": NON_JSON_BODY_PATHS,
               "takes_any_body": takes_any_body}
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    # Browsers on these origins may call the API (an allow-list; never `*`).
    cors = dict(allow_origins=origins, allow_credentials=False, allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "X-API-Key", "Content-Type", "Last-Event-ID", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After", "Location"], max_age=600)
    # Inside out: ETags over the plain body, then gzip, then CORS, then the request context around everything.
    app.add_middleware(mobile.ETags)
    if settings.gzip:
        app.add_middleware(mobile.gzip, minimum_size=settings.gzip_min_bytes)
    if origins:
        app.add_middleware(CORSMiddleware, **cors)
    app.add_middleware(RequestContext, **context)
    app.tracker_port, app.tracker_path = settings.tracker_port, settings.tracker_path
    lean_routers = (checkins_api.lean_router, schools.lean_router, identity.lean_router, incidents_api.lean_router,
                    ogc_api.lean_router, trackers_api.tracker_router(settings.tracker_path))
    app.hot_paths = lean.HotRoutes([r for router in lean_routers for r in router.routes])
    hot = mobile.gzip(app.hot_paths, minimum_size=settings.gzip_min_bytes) if settings.gzip else app.hot_paths
    app.hot_stack = RequestContext(CORSMiddleware(hot, **cors) if origins else hot, **context)
    # The hot endpoints' routers first: a request tries the routers in order, and every router passed costs
    # a few microseconds per route it holds.
    for router in lean_routers:
        app.include_router(router)
    app.include_router(operations.router)
    app.include_router(mobile.router)
    app.include_router(identity.router)
    app.include_router(schools.router)
    app.include_router(incidents_api.router)
    app.include_router(statistics_api.router)
    app.include_router(stream_api.router)
    app.include_router(duty_api.router)
    app.include_router(checkins_api.router)
    app.include_router(trackers_api.router)
    app.include_router(units_api.router)
    app.include_router(share_links_api.router)
    map_page.install(app)  # /, /map and /map/static/… (not in the OpenAPI document)
    phone_page.install(app)  # /m/ (the officers' page), its service worker and /m/static/… (not documented)
    app.include_router(ogc_api.router)
    app.include_router(exports_api.router)
    app.include_router(webhooks_api.router)
    app.include_router(hazards_api.router)
    app.include_router(venues_api.router)
    app.include_router(campaigns_api.router)
    app.include_router(key_persons_api.router)
    app.include_router(reports_api.router)
    openapi_links.install(app)
    return app


configure_logging(get_settings().log_level)
app = create_app()
