"""Response-time statistics for the 1/3/5 rule (definitions in `domain/statistics.py` and the README)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth import CurrentCaller
from api.deps import Reads
from api.incidents import Now
from api.schemas import PROBLEM_RESPONSES, Instant
from domain import statistics

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)


class TierFigures(BaseModel):
    tier: int
    limit_s: float
    met: int
    missed: int
    missed_no_arrival: int = Field(description="Missed with no qualifying arrival (no elapsed_s).")
    pending: int = Field(description="Still within the limit at `now`; left out of met_ratio and percentiles.")
    met_ratio: float | None = Field(description="met / (met + missed); null when nothing is decided.")
    p50_s: float | None = Field(description="Median elapsed_s over decided incidents with an arrival.")
    p90_s: float | None = Field(description="90th percentile elapsed_s over decided incidents with an arrival.")
    p90_compliant: bool | None = Field(description="met_ratio ≥ 0.9: the 90th-percentile response, counting "
                                                   "no-arrival incidents as never, is within limit_s.")


class GroupFigures(BaseModel):
    group: str | None = Field(description="Jurisdiction code, school id, category or local hour (0–23); "
                                          "null for incidents outside every school zone when grouped by school.")
    label: str | None
    incidents: int
    tiers: list[TierFigures]


class ResponseTimes(BaseModel):
    model_config = {"populate_by_name": True}
    policy: str
    from_: datetime = Field(alias="from")
    to: datetime
    group_by: str
    groups: list[GroupFigures]


@router.get("/stats/response-times", response_model=ResponseTimes, tags=["statistics"],
            summary="Per group: incidents and, per tier, met_ratio, p50_s, p90_s under a scoring policy")
async def response_times(
    caller: CurrentCaller, db: Reads, now: Now,
    from_: Annotated[Instant, Query(alias="from", description="alarm_at ≥ from")],
    to: Annotated[Instant, Query(description="alarm_at < to")],
    group_by: Literal["jurisdiction", "school", "category", "hour"] = "jurisdiction",
    policy: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_\-]{1,40}@v[1-9][0-9]{0,5}$",
                                        description="Default 1-3-5@v1")] = None,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
) -> dict:
    return await statistics.response_times(db, caller=caller, from_=from_, to=to, group_by=group_by,
                                           policy_key=policy, jurisdiction_code=jurisdiction_code, now=now)
