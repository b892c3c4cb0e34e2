"""Campaign reports: `GET /v1/reports/campaign/{id}?jurisdiction_code=&as_of=&format=json|xlsx|html|pdf`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse, Response

from api.auth import CurrentCaller
from api.deps import AppSettings, Now, Reads
from api.schemas import PROBLEM_RESPONSES, Instant
from domain import audit, report_render, reports
from domain.exports import XLSX_MEDIA_TYPE

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["reports"])


class ReportColumn(BaseModel):
    key: str
    title: str
    title_en: str
    kind: str


class ReportSection(BaseModel):
    key: str
    title: str
    title_en: str
    columns: list[ReportColumn]


class ReportCampaign(BaseModel):
    id: uuid.UUID
    name: str
    jurisdiction_code: str
    starts_on: date
    ends_on: date
    time_zone: str
    report_dues: list[dict[str, Any]]
    policy_keys: list[str]


SectionFigures = dict[str, dict[str, float | int | None]]


class JurisdictionFigures(BaseModel):
    code: str
    name: str
    level: str
    schools: int
    figures: SectionFigures = Field(description="Per section, this jurisdiction and everything below it.")


class SchoolFigures(BaseModel):
    school_id: uuid.UUID
    name: str
    kind: str
    jurisdiction_code: str
    figures: SectionFigures


class CampaignReport(BaseModel):
    campaign: ReportCampaign
    as_of: datetime = Field(description="Only what happened and was recorded at or before this instant counts.")
    period: dict[str, datetime] = Field(description="`from` (inclusive) and `to` (exclusive).")
    policy: str = Field(description="The scoring policy incidents are scored under (the campaign's first).")
    jurisdiction_codes: list[str] = Field(description="The roots of the jurisdictions this report covers.")
    sections: list[ReportSection]
    totals: SectionFigures
    jurisdictions: list[JurisdictionFigures]
    schools: list[SchoolFigures]
    incidents_by_category: list[dict[str, Any]]


FILES = {200: {
    "description": "The report: JSON (default), or with `format` (or `Accept: text/html`) a printable HTML page with "
                   "SVG charts, an XLSX workbook or a PDF.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CampaignReport"}},
                "text/html": {"schema": {"type": "string"}},
                XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}}},
}}


def _wants_html(request: Request) -> bool:
    """A browser asks for text/html before (or without) application/json."""
    accept = request.headers.get("accept", "")
    html_at, json_at = accept.find("text/html"), accept.find("application/json")
    return html_at >= 0 and (json_at < 0 or html_at < json_at)


@router.get("/reports/campaign/{campaign_id}", response_model=CampaignReport, responses=FILES,
            summary="A campaign's figures per jurisdiction and school as of an instant (reproducible): JSON, XLSX, "
                    "printable HTML with SVG charts, or PDF")
async def campaign_report(
    campaign_id: uuid.UUID, request: Request, caller: CurrentCaller, db: Reads, now: Now, settings: AppSettings,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$",
                                                   description="Only this jurisdiction (and below)")] = None,
    as_of: Annotated[Instant | None, Query(description="Default now; not in the future")] = None,
    format: Annotated[Literal["json", "xlsx", "html", "pdf"] | None,
                      Query(description="Default json, or html when the client accepts text/html first")] = None,
    lang: Annotated[Literal["zh", "en"], Query(description="Headings of XLSX, HTML and PDF")] = "zh",
) -> Any:
    report = await reports.campaign_report(db, caller=caller, campaign_id=campaign_id, as_of=as_of or now, now=now,
                                           heartbeat_cover_s=settings.heartbeat_cover_s,
                                           checkin_max_age_s=settings.checkin_max_age_s,
                                           jurisdiction_code=jurisdiction_code)
    chosen = format or ("html" if _wants_html(request) else "json")
    if chosen == "json":
        return report.as_dict()
    stamp = report.as_of.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"campaign-report-{campaign_id}-{stamp}"
    if chosen == "html":
        return HTMLResponse(report_render.html(report, lang=lang), headers={"Cache-Control": "no-store"})
    if chosen == "xlsx":
        body = await asyncio.to_thread(report_render.xlsx, report, lang=lang)
        media, filename = XLSX_MEDIA_TYPE, f"{name}.xlsx"
    else:
        body = await asyncio.to_thread(report_render.pdf, report, lang=lang)
        media, filename = "application/pdf", f"{name}.pdf"
    await audit.record(db, caller=caller, entity="report", entity_id=campaign_id, action="export",
                       jurisdiction_code=report.campaign["jurisdiction_code"],
                       changes={"format": chosen, "as_of": report.as_of, "jurisdiction_code": jurisdiction_code,
                                "bytes": len(body)})
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})
