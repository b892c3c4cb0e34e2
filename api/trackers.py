"""Trackers: the Traccar Client app's OsmAnd endpoint, and the devices admins register to officers.

The OsmAnd endpoint (`tracker_path`, default `/osmand`; and every path on `tracker_port` when that is set) is a
lean hot route: the app has no token, the device identifier names the officer (see `domain.trackers`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api import lean
from api.auth import Admin
from api.deps import Paging, Reads, Tx
from api.schemas import PROBLEM_RESPONSES, Page
from domain import trackers
from domain.errors import InvalidInput

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Device(BaseModel):
    id: uuid.UUID
    identifier: str = Field(description="The identifier entered in the app (its only credential: keep it private).")
    officer_id: uuid.UUID
    officer_username: str
    officer_name: str
    jurisdiction_code: str = Field(description="The officer's jurisdiction.")
    name: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime | None = Field(description="When the device last posted (server time).")
    positions_received: int
    positions_stored: int = Field(description="Stored as new heartbeat check-ins.")
    positions_duplicate: int = Field(description="Sent again (same device and timestamp): answered, not stored twice.")
    positions_dropped: int = Field(description="Answered 200 but not stored: unreadable, too old, in the future, "
                                   "device deactivated or officer inactive (see `last_drop_reason`).")
    positions_rate_limited: int = Field(description="Answered 429; the app sends them again later.")
    last_drop_reason: str | None


class DeviceCreate(Strict):
    officer_id: uuid.UUID = Field(description="An active officer (or commander) of your jurisdictions.")
    identifier: str | None = Field(default=None, pattern=trackers.REGISTERED_IDENTIFIER_PATTERN,
                                   description="The app's device identifier; leave out to have a random one "
                                               "generated (recommended: anyone who knows it can post positions).")
    name: str | None = Field(default=None, max_length=200, examples=["张警官的手机"])


class DevicePatch(Strict):
    officer_id: uuid.UUID = None
    name: str | None = Field(default=None, max_length=200)
    active: bool = None


class UnknownDevice(BaseModel):
    identifier: str
    positions: int = Field(description="Positions received and dropped.")
    first_seen_at: datetime
    last_seen_at: datetime
    jurisdiction_code: str | None = Field(description="Where it was last placed: the jurisdiction of the school "
                                                      "nearest (within 5 km) to a position it sent; null when it "
                                                      "was never seen near a school.")


# --- the OsmAnd endpoint ---------------------------------------------------------------------------------

def _is_json(request: Request, raw: bytes) -> bool:
    """JSON when the app says so (as Traccar decides), or when the body plainly is a JSON object or list."""
    if b"json" in request.headers.get("content-type", "").encode("latin-1").lower():
        return True
    return raw[:1] in (b"{", b"[")


async def receive_position(request: Request) -> Response:
    state = request.app.state
    raw = await request.body() if request.method == "POST" else b""
    params = request.query_params.multi_items()
    if raw and _is_json(request, raw):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidInput("the body is not valid JSON", field="body") from None
        query_id = request.query_params.get("id") or request.query_params.get("deviceid")
        received = trackers.read_json(doc, query_id=query_id)
    else:
        if not params and raw:  # the query form sent as a form body
            params = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        received = trackers.read_query(params)
    request_id = request.scope.get("state", {}).get("request_id")
    zone_state = state.zone_index
    await trackers.receive(state.db, received=received, settings=state.settings, now=lean.now(request),
                           ingest_db=state.ingest_db, request_id=request_id,
                           zone_index=zone_state.current() if zone_state is not None else None)
    return Response(status_code=200)


POSITION_DOC = {
    "security": [],
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
        for name, text in (
            ("id", "Device identifier (query form; `deviceid` also works)."),
            ("lat", "Latitude, WGS-84."), ("lon", "Longitude, WGS-84."),
            ("timestamp", "Epoch seconds or milliseconds, or ISO 8601."),
            ("speed", "Knots."), ("bearing", "Degrees."), ("altitude", "Metres."),
            ("accuracy", "Metres; missing or 0: unknown."), ("batt", "Battery, %."),
        )
    ],
    "requestBody": {"required": False, "content": {
        "application/json": {"schema": {"type": "object", "required": ["device_id", "location"], "properties": {
            "device_id": {"type": "string"},
            "location": {"type": "object", "description": "timestamp (ISO 8601), coords {latitude, longitude, "
                         "accuracy, speed (m/s), heading, altitude}, is_moving, event, mock, battery {level 0–1, "
                         "is_charging}; or a list of such objects."}}}},
        "application/x-www-form-urlencoded": {"schema": {"type": "object"}}}},
    "responses": {"200": {"description": "Received (stored, recognised as sent before, or dropped and counted: "
                                         "the app then stops resending it)"},
                  "429": {"description": "The device is over its rate; the app sends the position again later"}},
}


def tracker_router(path: str) -> APIRouter:
    """The OsmAnd endpoint at `path` (GET and POST, as Traccar accepts both)."""
    tracker = APIRouter(responses=PROBLEM_RESPONSES)
    summary = "Traccar Client / OsmAnd position (no token: the device identifier names the officer)"
    # response_class=Response: the 200 is documented, like it is sent, without a body or content type
    tracker.add_api_route(path, receive_position, methods=["POST"], tags=["trackers"], summary=summary,
                          openapi_extra=POSITION_DOC, operation_id="tracker_position_post", response_class=Response)
    tracker.add_api_route(path, receive_position, methods=["GET"], tags=["trackers"], summary=summary,
                          response_class=Response,
                          openapi_extra={k: v for k, v in POSITION_DOC.items() if k != "requestBody"},
                          operation_id="tracker_position_get")
    return tracker


# --- devices -----------------------------------------------------------------------------------------------

@router.post("/devices", response_model=Device, status_code=201, tags=["trackers"],
             summary="Register a Traccar Client device to an officer (admin)")
async def create_device(body: DeviceCreate, caller: Admin, db: Tx) -> dict:
    return await trackers.create(db, caller=caller, officer_id=body.officer_id, identifier=body.identifier,
                                 name=body.name)


@router.get("/devices", response_model=Page[Device], tags=["trackers"],
            summary="Devices in your jurisdictions with last seen and counts (admin)")
async def list_devices(
    caller: Admin, db: Reads, paging: Paging,
    officer_id: uuid.UUID | None = None,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
    active: bool | None = None,
) -> dict:
    items, nxt = await trackers.list_page(db, caller=caller, limit=paging.limit, cursor=paging.cursor,
                                          officer_id=officer_id, jurisdiction_code=jurisdiction_code, active=active)
    return {"items": items, "next_cursor": nxt}


@router.get("/devices/unknown", response_model=Page[UnknownDevice], tags=["trackers"],
            summary="Identifiers that posted positions but are registered to nobody (admin)")
async def list_unknown_devices(caller: Admin, db: Reads, paging: Paging) -> dict:
    items, nxt = await trackers.unknown_page(db, caller=caller, limit=paging.limit, cursor=paging.cursor)
    return {"items": items, "next_cursor": nxt}


@router.get("/devices/{device_id}", response_model=Device, tags=["trackers"], summary="One device (admin)")
async def get_device(device_id: uuid.UUID, caller: Admin, db: Reads) -> dict:
    return await trackers.get(db, caller=caller, device_id=device_id)


@router.patch("/devices/{device_id}", response_model=Device, tags=["trackers"],
              summary="Give a device to another officer, rename or (de)activate it (admin)")
async def update_device(device_id: uuid.UUID, body: DevicePatch, caller: Admin, db: Tx) -> dict:
    return await trackers.update(db, caller=caller, device_id=device_id,
                                 changes=body.model_dump(exclude_unset=True))


@router.delete("/devices/{device_id}", status_code=204, tags=["trackers"],
               summary="Remove a device (admin); its check-ins stay")
async def delete_device(device_id: uuid.UUID, caller: Admin, db: Tx) -> Response:
    await trackers.delete(db, caller=caller, device_id=device_id)
    return Response(status_code=204)
