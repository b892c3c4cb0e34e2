"""Responders' latest positions, for the command centre's map (commanders and admins)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth import Commander
from api.deps import Now, Paging, Reads
from api.schemas import PROBLEM_RESPONSES, Page, PointGeometry
from domain import responders

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)

SEEN_WITHIN_DEFAULT_S = 12 * 3600


class UnitPosition(BaseModel):
    responder_id: uuid.UUID
    name: str
    unit_type: str
    jurisdiction_code: str
    location: PointGeometry
    accuracy_m: float | None
    recorded_at: datetime
    post_id: uuid.UUID | None = Field(description="The post of the shift the fix was sent for, if any.")
    shift_id: uuid.UUID | None
    on_shift: bool = Field(description="A shift of theirs is going on now.")


@router.get("/units/positions", response_model=Page[UnitPosition], tags=["incidents"],
            summary="Each responder's latest position in your jurisdictions (commander, admin; never viewers)")
async def unit_positions(
    caller: Commander, db: Reads, paging: Paging, now: Now,
    seen_within_s: Annotated[int, Query(ge=60, le=7 * 24 * 3600, description="Only fixes this recent")]
    = SEEN_WITHIN_DEFAULT_S,
) -> dict:
    items, nxt = await responders.latest_positions(db, caller=caller, now=now, seen_within_s=seen_within_s,
                                                   limit=paging.limit, cursor=paging.cursor)
    return {"items": items, "next_cursor": nxt}
