"""A campaign report as an XLSX workbook, a printable HTML page (charts drawn on the server as inline SVG, so it
prints without JavaScript) and a PDF (WeasyPrint from the same HTML, with a CJK font).

Sheets and tables share the section columns of `domain.reports` (`domain.exports.Column`: headers in Chinese and
English, kinds). Times are shown in the campaign owner's time zone.
"""

from __future__ import annotations

import html as html_lib
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from domain.errors import NotAcceptable
from domain.exports import Column
from domain.reports import TIERS, Report

FONT_FAMILY = "'Noto Sans CJK SC', 'Noto Sans SC', 'WenQuanYi Zen Hei', 'Source Han Sans SC', sans-serif"
CATEGORY_NAMES = {
    "suspicious_person": "可疑人员", "weapons": "管制刀具/危险物品", "violence": "暴力", "bullying": "欺凌",
    "school_disturbance": "校闹", "fraud": "诈骗", "traffic": "交通", "food_safety": "食品安全",
    "vice_gambling_drugs": "黄赌毒", "theft_robbery": "盗抢骗", "dispute": "纠纷", "key_person": "重点人员",
    "other": "其他",
}
WORDS = {
    "zh": {"report": "专项行动工作报告", "period": "期间", "as_of": "数据截至", "policy": "评分规则",
           "scope": "范围", "totals": "总体情况", "schools": "覆盖学校", "by_jurisdiction": "分辖区情况",
           "by_school": "分学校情况", "by_category": "警情分类与1、3、5分钟响应", "jurisdiction": "辖区",
           "school": "学校", "category": "类别", "item": "项目", "value": "数值", "dues": "报送节点",
           "summary": "概况", "chart_duty": "勤务履职（班次）", "chart_tiers": "1、3、5分钟到场达标率",
           "chart_categories": "警情类别", "none": "本期无数据", "generated": "生成时间",
           "kept": "履职", "late": "迟到", "partial": "脱岗/早退", "absent": "缺岗"},
    "en": {"report": "Campaign report", "period": "Period", "as_of": "As of", "policy": "Scoring policy",
           "scope": "Scope", "totals": "Totals", "schools": "Schools covered", "by_jurisdiction": "By jurisdiction",
           "by_school": "By school", "by_category": "Incidents by category and the 1/3/5 response",
           "jurisdiction": "Jurisdiction", "school": "School", "category": "Category", "item": "Item",
           "value": "Value", "dues": "Reports due", "summary": "Summary", "chart_duty": "Duty kept (shifts)",
           "chart_tiers": "1/3/5 tiers met", "chart_categories": "Incidents by category", "none": "No data",
           "generated": "Generated", "kept": "Kept", "late": "Late", "partial": "Partial", "absent": "Absent"},
}
VERDICT_COLOURS = {"kept": "#2e7d32", "late": "#f9a825", "partial": "#ef6c00", "absent": "#c62828"}


def _local(report: Report, t: datetime) -> str:
    return t.astimezone(ZoneInfo(report.campaign["time_zone"])).strftime("%Y-%m-%d %H:%M:%S")


def _fmt(column: Column, v) -> str:
    if v is None:
        return "—"
    if column.kind == "float":
        return f"{v * 100:.1f}%" if column.key.endswith("ratio") else f"{v:.{column.digits}f}"
    return str(v)


# --- XLSX --------------------------------------------------------------------------------------------------

def xlsx(report: Report, *, lang: str = "zh") -> bytes:
    """A workbook: summary, per jurisdiction, per school, incidents by category (one column per section figure)."""
    import xlsxwriter

    w = WORDS[lang]
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                                     "strings_to_urls": False})
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    group = book.add_format({"bold": True, "bg_color": "#BDD7EE", "border": 1, "align": "center"})
    pct = book.add_format({"num_format": "0.0%"})
    title = book.add_format({"bold": True, "font_size": 14})

    summary = book.add_worksheet(w["summary"])
    summary.set_column(0, 0, 28)
    summary.set_column(1, 1, 40)
    summary.write_string(0, 0, report.campaign["name"], title)
    rows = [(w["period"], f"{report.campaign['starts_on']} — {report.campaign['ends_on']} "
                          f"({report.campaign['time_zone']})"),
            (w["as_of"], _local(report, report.as_of)), (w["policy"], report.policy),
            (w["scope"], ", ".join(report.scope_codes)),
            (w["dues"], "; ".join(f"{d['name']} {d['due']}" for d in report.campaign["report_dues"]))]
    r = 2
    for k, v in rows:
        summary.write_string(r, 0, k, head)
        summary.write_string(r, 1, v)
        r += 1
    r += 1
    summary.write_string(r, 0, w["schools"], head)
    summary.write_number(r, 1, report.totals["schools"]["schools"])
    r += 1
    for s in report.sections:
        r += 1
        summary.write_string(r, 0, s.title(lang), group)
        r += 1
        for c in s.columns:
            summary.write_string(r, 0, c.header(lang))
            _cell(summary, r, 1, c, report.totals[s.key].get(c.key), pct)
            r += 1

    def table(sheet_name: str, lead: list[tuple[str, str]], items: list[dict], per_school: bool) -> None:
        sheet = book.add_worksheet(sheet_name)
        sections = [s for s in report.sections if s.per_school or not per_school]
        for n, (_, header) in enumerate(lead):
            sheet.merge_range(0, n, 1, n, header, head)
            sheet.set_column(n, n, 24 if n == 1 else 14)
        col = len(lead)
        for s in sections:
            if len(s.columns) > 1:
                sheet.merge_range(0, col, 0, col + len(s.columns) - 1, s.title(lang), group)
            else:
                sheet.write_string(0, col, s.title(lang), group)
            for c in s.columns:
                sheet.write_string(1, col, c.header(lang), head)
                sheet.set_column(col, col, 11)
                col += 1
        sheet.freeze_panes(2, 2)
        for i, item in enumerate(items, start=2):
            for n, (key, _) in enumerate(lead):
                v = item.get(key)
                if isinstance(v, int):
                    sheet.write_number(i, n, v)
                else:
                    sheet.write_string(i, n, "" if v is None else str(v))
            col = len(lead)
            for s in sections:
                for c in s.columns:
                    _cell(sheet, i, col, c, item["figures"].get(s.key, {}).get(c.key), pct)
                    col += 1

    table(w["by_jurisdiction"], [("code", w["jurisdiction"] + " code" if lang == "en" else "辖区代码"),
                                 ("name", w["jurisdiction"]), ("schools", w["schools"])], report.jurisdictions,
          per_school=False)
    table(w["by_school"], [("jurisdiction_code", "辖区代码" if lang == "zh" else "Jurisdiction code"),
                           ("name", w["school"]), ("kind", "类型" if lang == "zh" else "Kind")],
          [{**s, "school_id": str(s["school_id"])} for s in report.schools], per_school=True)
    incidents = next((s for s in report.sections if s.key == "incidents"), None)
    if incidents is not None:
        sheet = book.add_worksheet(w["by_category"][:31])
        sheet.write_string(0, 0, w["category"], head)
        sheet.set_column(0, 0, 20)
        for n, c in enumerate(incidents.columns, start=1):
            sheet.write_string(0, n, c.header(lang), head)
            sheet.set_column(n, n, 11)
        for i, row in enumerate(report.by_category, start=1):
            sheet.write_string(i, 0, CATEGORY_NAMES.get(row["category"], row["category"]) if lang == "zh"
                               else row["category"])
            for n, c in enumerate(incidents.columns, start=1):
                _cell(sheet, i, n, c, row.get(c.key), pct)
    book.close()
    return buf.getvalue()


def _cell(sheet, r: int, c: int, column: Column, v, pct) -> None:
    if v is None:
        return
    if column.kind == "float" and column.key.endswith("ratio"):
        sheet.write_number(r, c, v, pct)
    elif isinstance(v, int | float):
        sheet.write_number(r, c, v)
    else:
        sheet.write_string(r, c, str(v))


# --- SVG charts ----------------------------------------------------------------------------------------------

def _e(text) -> str:
    return html_lib.escape(str(text), quote=True)


def svg_stacked_bars(rows: list[tuple[str, dict[str, int]]], keys: list[str], labels: dict[str, str],
                     *, width: int = 640, bar_h: int = 18) -> str:
    """Horizontal stacked bars (one per row), each segment a key's share of the row's total, with a legend."""
    label_w, gap, legend_h = 150, 8, 26
    height = legend_h + len(rows) * (bar_h + gap) + gap
    plot_w = width - label_w - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    x = label_w
    for k in keys:
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{VERDICT_COLOURS.get(k, "#607d8b")}"/>'
                     f'<text x="{x + 16}" y="16" font-size="11">{_e(labels.get(k, k))}</text>')
        x += 90
    for n, (name, values) in enumerate(rows):
        y = legend_h + gap + n * (bar_h + gap)
        total = sum(values.get(k) or 0 for k in keys)
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h - 5}" font-size="11" text-anchor="end">{_e(name)}</text>')
        x = float(label_w)
        for k in keys:
            v = values.get(k) or 0
            if total and v:
                w = plot_w * v / total
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                             f'fill="{VERDICT_COLOURS.get(k, "#607d8b")}"><title>{_e(labels.get(k, k))}: {v}</title></rect>')
                x += w
        if not total:
            parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_h}" fill="#eeeeee"/>')
        parts.append(f'<text x="{label_w + plot_w + 6}" y="{y + bar_h - 5}" font-size="11">{total}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_bars(rows: list[tuple[str, float | None]], *, width: int = 640, bar_h: int = 18, percent: bool = False,
             colour: str = "#1565c0") -> str:
    """Horizontal bars of values (ratios as percentages when `percent`); a missing value is shown as —."""
    label_w, gap = 150, 8
    height = gap + len(rows) * (bar_h + gap)
    plot_w = width - label_w - 70
    top = max([v for _, v in rows if v is not None] + [1.0 if percent else 0.0]) or 1.0
    if percent:
        top = 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for n, (name, v) in enumerate(rows):
        y = gap + n * (bar_h + gap)
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h - 5}" font-size="11" text-anchor="end">{_e(name)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_h}" fill="#eeeeee"/>')
        if v is not None:
            w = plot_w * (v / top)
            parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>')
        text = "—" if v is None else (f"{v * 100:.1f}%" if percent else f"{v:g}")
        parts.append(f'<text x="{label_w + plot_w + 6}" y="{y + bar_h - 5}" font-size="11">{text}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --- HTML ----------------------------------------------------------------------------------------------------

CSS = f"""
@page {{ size: A4 landscape; margin: 12mm 10mm; }}
body {{ font-family: {FONT_FAMILY}; font-size: 10.5pt; color: #212121; margin: 0 auto; max-width: 1000px; }}
h1 {{ font-size: 18pt; margin: 0 0 4pt; }} h2 {{ font-size: 13pt; margin: 16pt 0 6pt; border-bottom: 1px solid #90a4ae; }}
table {{ border-collapse: collapse; width: 100%; margin: 4pt 0 10pt; font-size: 7pt; }}
th, td {{ border: 1px solid #b0bec5; padding: 2pt 4pt; text-align: right; }}
th {{ background: #e3f2fd; }} td.name, th.name {{ text-align: left; }}
.meta td {{ text-align: left; border: none; padding: 1pt 6pt 1pt 0; }}
.chart {{ max-width: 100%; height: auto; page-break-inside: avoid; }}
section.total {{ display: inline-block; vertical-align: top; margin: 0 14pt 6pt 0; }}
section.total h3 {{ font-size: 10pt; margin: 4pt 0; }} tr {{ page-break-inside: avoid; }}
@media print {{ body {{ max-width: none; }} }}
"""


def _section_table(report: Report, rows: list[dict], lead: list[tuple[str, str]], lang: str,
                   per_school: bool) -> str:
    sections = [s for s in report.sections if s.per_school or not per_school]
    head1 = "".join(f'<th rowspan="2" class="name">{_e(h)}</th>' for _, h in lead)
    head1 += "".join(f'<th colspan="{len(s.columns)}">{_e(s.title(lang))}</th>' for s in sections)
    head2 = "".join(f"<th>{_e(c.header(lang))}</th>" for s in sections for c in s.columns)
    body = []
    for row in rows:
        cells = "".join(f'<td class="name">{_e(row.get(k, ""))}</td>' for k, _ in lead)
        cells += "".join(f"<td>{_e(_fmt(c, row['figures'].get(s.key, {}).get(c.key)))}</td>"
                         for s in sections for c in s.columns)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head1}</tr><tr>{head2}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html(report: Report, *, lang: str = "zh") -> str:
    """The printable page: the figures, and charts as inline SVG (no JavaScript, no external resources)."""
    w = WORDS[lang]
    c = report.campaign
    meta = [(w["period"], f"{c['starts_on']} — {c['ends_on']} ({c['time_zone']})"),
            (w["as_of"], _local(report, report.as_of)), (w["policy"], report.policy),
            (w["scope"], ", ".join(report.scope_codes) or "—"),
            (w["dues"], "；".join(f"{d['name']} {d['due']}" for d in c["report_dues"]) or "—"),
            (w["schools"], str(report.totals["schools"]["schools"]))]
    out = [f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
           f"<title>{_e(c['name'])} — {_e(w['report'])}</title><style>{CSS}</style></head><body>",
           f"<h1>{_e(c['name'])}</h1><p>{_e(w['report'])}</p>",
           '<table class="meta">' + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in meta) + "</table>"]
    out.append(f"<h2>{_e(w['totals'])}</h2>")
    for s in report.sections:
        cells = "".join(f"<tr><td class='name'>{_e(col.header(lang))}</td><td>{_e(_fmt(col, report.totals[s.key].get(col.key)))}</td></tr>"
                        for col in s.columns)
        out.append(f"<section class='total'><h3>{_e(s.title(lang))}</h3><table style='width:auto'><tbody>{cells}</tbody></table></section>")
    # charts
    verdicts = ["kept", "late", "partial", "absent"]
    duty_rows = [(j["name"], j["figures"].get("duty", {})) for j in report.jurisdictions]
    if "duty" in report.totals:
        out.append(f"<h2>{_e(w['chart_duty'])}</h2>")
        out.append(svg_stacked_bars(duty_rows or [(w["none"], {})], verdicts, {k: w[k] for k in verdicts}))
    if "incidents" in report.totals:
        t = report.totals["incidents"]
        out.append(f"<h2>{_e(w['chart_tiers'])}</h2>")
        out.append(svg_bars([(f"{k} ({lim})", t.get(f"tier{k}_met_ratio"))
                             for k, lim in zip(TIERS, ("60 s", "180 s", "300 s"), strict=True)], percent=True,
                            colour="#2e7d32"))
        out.append(f"<h2>{_e(w['chart_categories'])}</h2>")
        cats = [(CATEGORY_NAMES.get(r["category"], r["category"]) if lang == "zh" else r["category"],
                 float(r["incidents"])) for r in report.by_category]
        out.append(svg_bars(cats or [(w["none"], None)]))
    out.append(f"<h2>{_e(w['by_jurisdiction'])}</h2>")
    out.append(_section_table(report, report.jurisdictions, [("name", w["jurisdiction"]), ("schools", w["schools"])],
                              lang, per_school=False))
    if "incidents" in report.totals and report.by_category:
        incidents = next(s for s in report.sections if s.key == "incidents")
        out.append(f"<h2>{_e(w['by_category'])}</h2>")
        rows = [{"category": CATEGORY_NAMES.get(r["category"], r["category"]) if lang == "zh" else r["category"],
                 "figures": {"incidents": r}} for r in report.by_category]
        fake = Report(report.campaign, report.as_of, report.start, report.end, report.policy, report.scope_codes,
                      [incidents], {}, [], [], [])
        out.append(_section_table(fake, rows, [("category", w["category"])], lang, per_school=False))
    out.append(f"<h2>{_e(w['by_school'])}</h2>")
    out.append(_section_table(report, report.schools, [("jurisdiction_code", w["jurisdiction"]),
                                                       ("name", w["school"])], lang, per_school=True))
    out.append("</body></html>")
    return "".join(out)


# --- PDF -----------------------------------------------------------------------------------------------------

def pdf(report: Report, *, lang: str = "zh") -> bytes:
    """The HTML page printed to PDF by WeasyPrint (fonts from fontconfig: install a CJK font such as
    fonts-noto-cjk, else Chinese text prints as empty boxes)."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # WeasyPrint loads Pango when imported
        raise NotAcceptable("PDF needs WeasyPrint's system libraries on this server (apt-get install "
                            "libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk); format=html prints the same page",
                            field="format") from exc
    return HTML(string=html(report, lang=lang)).write_pdf()
