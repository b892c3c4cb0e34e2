"""Demo campaigns, disputes and key persons for the two seed counties. Idempotent: campaigns have fixed ids, and
a county that has disputes already gets no more demo ledgers.

- Campaigns: each seed plan's own (Pengshui's 2023 campaign 2023-05-15 → 2023-12-31 with the half-year summary by
  31 July and the final summary; Yeji's 亮剑斩棘 2022-03-22 → 2022-04-15 reported on 15 April), and one over the
  current year per county, so the demo data (incidents, duty) shows up in a report.
- Disputes and key persons at the first schools of each county (fictional people; identity numbers are made up
  with a valid check character and stored encrypted like any other).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from domain import campaigns, key_persons
from domain.callers import system_caller
from domain.database import Db
from domain.identity_numbers import check_character, cipher_for
from domain.settings import get_settings

DEMO_NAMESPACE = uuid.UUID("6c2a0d8e-1b7f-4d0e-8f55-3a2b1c0d9e12")
LOCAL = ZoneInfo("Asia/Shanghai")


def _id(name: str) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, name)


def demo_campaigns(today: date) -> list[tuple[uuid.UUID, str, campaigns.CampaignInput]]:
    year = today.year
    return [
        (_id("campaign-pengshui-2023"), "500243", campaigns.CampaignInput(
            name="2023年校园及周边社会治安综合整治专项行动", starts_on=date(2023, 5, 15), ends_on=date(2023, 12, 31),
            description="彭水县校园及周边社会治安综合治理办公室：护校安园、反诈、文娱场所排查整治、食品安全守护、防范校园欺凌",
            report_dues=[{"name": "专项行动半年工作总结", "due": date(2023, 7, 31)},
                         {"name": "专项行动工作总结", "due": date(2024, 11, 30)}])),
        (_id("campaign-yeji-2022"), "341504", campaigns.CampaignInput(
            name="校园周边环境整治“亮剑斩棘”专项行动", starts_on=date(2022, 3, 22), ends_on=date(2022, 4, 15),
            description="六安市公安局叶集分局：隐患排查整改、矛盾纠纷化解、周边环境整治、重点人员管控、严打涉校违法犯罪",
            report_dues=[{"name": "工作总结（分局FTP报送治安大队）", "due": date(2022, 4, 15)}])),
        *((_id(f"campaign-{code}-{year}"), code, campaigns.CampaignInput(
            name=f"{year}年护校安园专项行动（演示）", starts_on=date(year, 1, 1), ends_on=date(year, 12, 31),
            report_dues=[{"name": "半年工作总结", "due": date(year, 7, 31)},
                         {"name": "年度工作总结", "due": date(year, 12, 31)}])) for code in ("500243", "341504")),
    ]


DISPUTES = (
    ("school_parent", "学生在校受伤，家长与学校就赔偿发生争执", "resolved"),
    ("neighbour", "学校围墙外商户占道经营与学校发生矛盾", "mediating"),
    ("student", "两名学生因琐事多次发生口角，家长介入", "registered"),
)
PERSONS = (
    ("threatening_revenge", "王某", "19780312", "high", "明确责任民警，每周走访，落实亲属稳控"),
    ("severe_mental_disorder", "刘某", "19850704", "high", "落实监护人看护责任，社区医生定期随访"),
    ("released_prisoner", "陈某", "19900921", "medium", "每月走访，了解就业和现实表现"),
)


async def seed_campaigns(db: Db, *, now: datetime) -> int:
    today = now.astimezone(LOCAL).date()
    made = 0
    for campaign_id, code, new in demo_campaigns(today):
        made += await campaigns.ensure_demo(db, caller=system_caller(code, code), campaign_id=campaign_id, new=new)
    cipher = cipher_for(get_settings().resolved_pii_key())
    for county in ("500243", "341504"):
        caller = system_caller(county, county, name="demo")
        if await db.fetchval("SELECT count(*) FROM disputes d JOIN jurisdictions j ON j.code = d.jurisdiction_code "
                             "WHERE j.path <@ CAST(:c AS ltree)", {"c": county}):
            continue
        schools = await db.fetch("""
            SELECT s.id FROM schools s JOIN jurisdictions j ON j.code = s.jurisdiction_code
            WHERE j.path <@ CAST(:c AS ltree) AND s.deleted_at IS NULL ORDER BY s.external_id NULLS LAST, s.id LIMIT 3
        """, {"c": county})
        for n, (school, (kind, summary, status)) in enumerate(zip(schools, DISPUTES, strict=False)):
            await key_persons.create_dispute(db, caller=caller, now=now, body={
                "school_id": school["id"], "kind": kind, "summary": f"【演示】{summary}", "mediation_status": status,
                "found_on": today - timedelta(days=5 + 7 * n),
                "parties": [{"name": "甲方（演示）", "role": "当事人"}, {"name": "乙方（演示）", "role": "当事人"}]})
            made += 1
        for n, (school, (category, name, born, risk, measures)) in enumerate(zip(schools, PERSONS, strict=False)):
            first17 = f"{county}{born}{n + 1:02d}{n % 2 + 1}"
            person = await key_persons.create_person(db, caller=caller, cipher=cipher, body={
                "category": category, "name": f"{name}（演示）", "id_number": first17 + check_character(first17),
                "school_id": school["id"], "risk_level": risk, "control_measures": measures})
            await key_persons.add_visit(db, caller=caller, person_id=person["id"], now=now, body={
                "visited_at": now - timedelta(days=2 + n), "findings": "【演示】情绪稳定，未发现危险物品",
                "dangerous_items_found": False, "measures": "继续落实管控措施"})
            made += 1
    return made
