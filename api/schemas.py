"""Schemas shared by several routers: pages, GeoJSON points, problems."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema

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


# Times and dates the API takes: an instant with an offset, or a calendar date, between 1900 and 2200. Outside,
# nothing in this domain happens, and year 1 or 9999 with an offset would overflow the conversion to UTC.
YEAR_MIN, YEAR_MAX = 1900, 2199


def _instant_in_range(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not YEAR_MIN <= utc.year <= YEAR_MAX:
        raise ValueError(f"must lie between the years {YEAR_MIN} and {YEAR_MAX}")
    return value


def _date_in_range(value: date) -> date:
    if not YEAR_MIN <= value.year <= YEAR_MAX:
        raise ValueError(f"must lie between the years {YEAR_MIN} and {YEAR_MAX}")
    return value


# The years as a pattern too, so the OpenAPI document says what the validation does (generated clients and
# fuzzers then stay in range).
YEAR_PATTERN = "(19|20|21)[0-9]{2}"
Instant = Annotated[AwareDatetime, AfterValidator(_instant_in_range), WithJsonSchema({
    "type": "string", "format": "date-time",
    "pattern": rf"^{YEAR_PATTERN}-[0-9]{{2}}-[0-9]{{2}}[Tt ][0-9]{{2}}:[0-9]{{2}}(:[0-9]{{2}}(\.[0-9]+)?)?([Zz]|[+-][0-9]{{2}}:[0-9]{{2}})$",
    "description": "An RFC 3339 date-time with a UTC offset, in the years 1900–2199."})]
"""An RFC 3339 date-time with a UTC offset, in 1900–2199."""
Day = Annotated[date, AfterValidator(_date_in_range), WithJsonSchema({
    "type": "string", "format": "date", "pattern": rf"^{YEAR_PATTERN}-[0-9]{{2}}-[0-9]{{2}}$",
    "description": "A calendar date, YYYY-MM-DD, in the years 1900–2199."})]
"""A calendar date (YYYY-MM-DD) in 1900–2199."""


def _no_offset(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a local time of day, HH:MM or HH:MM:SS, without an offset")
    return value


LocalTime = Annotated[time, AfterValidator(_no_offset), WithJsonSchema({
    "type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$",
    "description": "A wall-clock time in the jurisdiction's time zone, HH:MM or HH:MM:SS (no offset)."})]
"""A local time of day: JSON Schema's `time` format demands an offset, which a duty window has none of."""


# `near` and `bbox` query values as patterns in the OpenAPI document (documented, not enforced by pydantic: the
# parser's own messages name what is wrong, e.g. a latitude out of range).
_NUMBER = r"\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*"
NEAR_SCHEMA = {"pattern": rf"^{_NUMBER},{_NUMBER}$"}
BBOX_SCHEMA = {"pattern": rf"^{_NUMBER}(,{_NUMBER}){{3}}$"}


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
    coordinates: list[Coordinate] = Field(min_length=2, max_length=3, examples=[[108.1655, 29.2951]],
                                          json_schema_extra={"prefixItems": [
                                              {"type": "number", "minimum": -180, "maximum": 180},
                                              {"type": "number", "minimum": -90, "maximum": 90}]})


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
