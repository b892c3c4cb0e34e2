"""Schemas shared by several routers: pages, GeoJSON points, problems."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a keyset-paged list; pass `next_cursor` back as `cursor` for the next page."""

    items: list[T]
    next_cursor: str | None = None


class FieldError(BaseModel):
    field: str
    message: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


class CRSName(StrEnum):
    wgs84 = "wgs84"
    gcj02 = "gcj02"
    bd09 = "bd09"


Coordinate = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class PointGeometry(BaseModel):
    """A GeoJSON Point, `[lon, lat]` (WGS-84 in responses)."""

    type: Literal["Point"] = "Point"
    coordinates: list[float] = Field(min_length=2, max_length=3)


class PointIn(BaseModel):
    """A GeoJSON Point `[lon, lat]` in the body's `crs`: finite numbers, lon in [-180, 180], lat in [-90, 90]."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["Point"]
    coordinates: list[Coordinate] = Field(min_length=2, max_length=3, examples=[[108.1655, 29.2951]])


class AreaIn(BaseModel):
    """A GeoJSON Polygon or MultiPolygon in the body's `crs` (closed rings, valid, at most 10,000 vertices)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any] = Field(min_length=1)


class AreaGeometry(BaseModel):
    """A GeoJSON Polygon or MultiPolygon (WGS-84)."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}, "description": desc}
    for code, desc in {
        400: "Malformed request",
        401: "Not authenticated",
        403: "Not allowed for this role",
        404: "Not found (or outside the caller's jurisdictions)",
        409: "Conflict",
        413: "Body too large",
        415: "Unsupported media type",
        422: "Validation error naming each field",
        429: "Too many requests",
        503: "Database unavailable",
    }.items()
}
