"""Schools and their zones: registry, bulk import, zone display and zone lookup."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api import lean
from api.auth import Commander, CurrentCaller, authenticate
from api.deps import Paging, Reads, Tx
from api.schemas import (
    BBOX_SCHEMA,
    NEAR_SCHEMA,
    PROBLEM_RESPONSES,
    AreaGeometry,
    AreaIn,
    CRSName,
    Page,
    PointGeometry,
    PointIn,
)
from domain import schools, zones
from domain.errors import InvalidInput
from domain.locations import read_bbox, read_coordinates, read_lonlat

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)
# The hot endpoints (api/lean.py), included ahead of every other router.
lean_router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)

Kind = Literal["kindergarten", "primary", "middle", "high", "vocational", "special", "other"]
CodeField = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{2,32}$")]
IMPORT_MAX_FEATURES = 10_000


class School(BaseModel):
    id: uuid.UUID
    external_id: str | None
    name: str
    kind: Kind
    jurisdiction_code: str
    address: str | None
    location: PointGeometry
    campus: AreaGeometry | None
    zone_radius_m: float
    created_at: datetime
    updated_at: datetime


class SchoolCreate(BaseModel):
    # A school needs a location or a campus (or both): said in the schema as well.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": ["location"], "properties": {"location": {"type": "object"}}},
        {"required": ["campus"], "properties": {"campus": {"type": "object"}}}]})
    name: str = Field(min_length=1, max_length=200, examples=["彭水县第一中学"])
    kind: Kind
    jurisdiction_code: CodeField
    address: str | None = Field(default=None, max_length=500)
    location: PointIn | None = Field(default=None, description="The main gate; defaults to a point inside the campus.")
    campus: AreaIn | None = None
    zone_radius_m: float = Field(default=200, gt=0, le=2000, allow_inf_nan=False)
    external_id: str | None = Field(default=None, min_length=1, max_length=100)
    crs: CRSName = CRSName.wgs84


class SchoolPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default=None, min_length=1, max_length=200)
    kind: Kind = None
    jurisdiction_code: CodeField = None
    address: str | None = Field(default=None, max_length=500)
    location: PointIn = None
    campus: AreaIn | None = None
    zone_radius_m: float = Field(default=None, gt=0, le=2000, allow_inf_nan=False)
    external_id: str | None = Field(default=None, min_length=1, max_length=100)
    crs: CRSName = CRSName.wgs84


class FeatureCollectionIn(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[Any] = Field(max_length=IMPORT_MAX_FEATURES)
    crs: CRSName = Field(default=CRSName.wgs84, description="CRS of every coordinate in the collection.")


class ImportResultOut(BaseModel):
    index: int
    status: Literal["created", "updated", "rejected"]
    id: uuid.UUID | None = None
    external_id: str | None = None
    errors: list[dict] | None = None


class ImportAnswer(BaseModel):
    created: int
    updated: int
    rejected: int
    results: list[ImportResultOut]


class ZoneSchool(BaseModel):
    school_id: uuid.UUID
    name: str
    kind: Kind
    jurisdiction_code: str
    zone_radius_m: float
    distance_m: float = Field(description="Geodesic metres to the campus boundary (0 inside the campus).")
    inside: bool = Field(description="The point lies in this school's zone.")


class ZoneLookup(BaseModel):
    point: PointGeometry
    schools: list[ZoneSchool]


class Feature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str | None = None
    geometry: dict
    properties: dict


async def current_school(school_id: uuid.UUID, caller: CurrentCaller, db: Reads) -> dict:
    """Load-or-404: the school exists, is not deleted and lies in the caller's jurisdictions."""
    return await schools.get(db, caller=caller, school_id=school_id)


CurrentSchool = Annotated[dict, Depends(current_school)]


@router.post("/schools", response_model=School, status_code=201, tags=["schools"],
             summary="Register a school (commander, admin)")
async def create_school(body: SchoolCreate, caller: Commander, db: Tx) -> dict:
    data = body.model_dump(exclude={"crs"})
    school = schools.school_from_body(data, crs=body.crs.value)
    return await schools.create(db, caller=caller, school=school)


@router.get("/schools", response_model=Page[School], tags=["schools"], summary="Schools in your jurisdictions")
async def list_schools(
    caller: CurrentCaller, db: Reads, paging: Paging,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
    near: Annotated[str | None, Query(description="`lon,lat`; with `radius_m`", examples=["108.1655,29.2951"],
                                                   json_schema_extra=NEAR_SCHEMA)] = None,
    radius_m: Annotated[float | None, Query(gt=0, le=100_000)] = None,
    bbox: Annotated[str | None, Query(description="`minlon,minlat,maxlon,maxlat`",
                                                   json_schema_extra=BBOX_SCHEMA)] = None,
    kind: Kind | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="Part of the name")] = None,
    crs: CRSName = CRSName.wgs84,
) -> dict:
    near_point = read_lonlat(near, crs=crs.value) if near else None
    if near_point is not None and radius_m is None:
        raise InvalidInput("near needs radius_m", field="radius_m")
    box = read_bbox(bbox, crs=crs.value) if bbox else None
    items, nxt = await schools.list_page(db, caller=caller, limit=paging.limit, cursor=paging.cursor,
                                         jurisdiction_code=jurisdiction_code, near=near_point, radius_m=radius_m,
                                         bbox=box, kind=kind, q=q)
    return {"items": items, "next_cursor": nxt}


@router.get("/schools/{school_id}", response_model=School, tags=["schools"])
async def get_school(school: CurrentSchool) -> dict:
    return school


@router.patch("/schools/{school_id}", response_model=School, tags=["schools"],
              summary="Change a school (commander, admin); `campus: null` removes the campus")
async def update_school(school_id: uuid.UUID, body: SchoolPatch, caller: Commander, db: Tx) -> dict:
    changes = body.model_dump(exclude_unset=True, exclude={"crs"})
    return await schools.update(db, caller=caller, school_id=school_id, changes=changes, crs=body.crs.value)


@router.delete("/schools/{school_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["schools"],
               summary="Remove a school from the registry (soft delete)")
async def delete_school(school_id: uuid.UUID, caller: Commander, db: Tx) -> Response:
    await schools.delete(db, caller=caller, school_id=school_id)
    return Response(status_code=204)


@router.post("/schools/import", response_model=ImportAnswer, tags=["schools"],
             summary="Upsert schools from a GeoJSON FeatureCollection, one result per feature")
async def import_schools(body: FeatureCollectionIn, caller: Commander, db: Tx) -> dict:
    results = await schools.import_features(db, caller=caller, features=body.features, crs=body.crs.value)
    return {
        "created": sum(r.status == "created" for r in results),
        "updated": sum(r.status == "updated" for r in results),
        "rejected": sum(r.status == "rejected" for r in results),
        "results": [r.__dict__ for r in results],
    }


@router.get("/schools/{school_id}/zone", response_model=Feature, tags=["zones"],
            summary="The school's zone as a GeoJSON Feature (campus buffered by zone_radius_m)")
async def school_zone(school_id: uuid.UUID, caller: CurrentCaller, db: Reads) -> dict:
    return await zones.zone_feature(db, caller=caller, school_id=school_id)


class ZoneLookupQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, description="Longitude in `crs`.")
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="Latitude in `crs`.")
    crs: CRSName = Field(default=CRSName.wgs84, description="Datum of lon/lat: wgs84 | gcj02 | bd09.")
    nearest: int = Field(default=3, ge=0, le=20, description="How many schools outside their zone to add")


@lean_router.get("/zones/lookup", response_model=ZoneLookup, tags=["zones"],
            summary="Which school zones hold this point, and the nearest ones that do not",
            openapi_extra=lean.documented(ZoneLookupQuery))
async def zone_lookup(request: Request) -> Response:
    caller = await authenticate(request)
    q = lean.query(request, ZoneLookupQuery)
    lon, lat = read_coordinates(q.lon, q.lat, crs=q.crs.value)
    state = request.app.state.zone_index
    found = await zones.lookup(request.app.state.db, caller=caller, lon=lon, lat=lat, nearest_outside=q.nearest,
                               index=state.current() if state is not None else None)
    return lean.json_response({"point": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
                               "schools": found})
