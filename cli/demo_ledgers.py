"""Demo ledgers: hazards found around the demo schools over the last four months (closed, being fixed, escalated,
overdue), venues near the schools (a few outside every zone) and their inspections. Idempotent: ids are uuid5 of
a fixed name, and a record that exists is left as it is.

Everything goes through the domain services (zone placement, the hazard log, audit), as a system caller at each
county, so the demo shows exactly what the API would have recorded.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

from shapely.geometry import Point

from domain import hazards, venues
from domain.callers import system_caller
from domain.database import Db

from .demo_incidents import COUNTIES, LOCAL, _move, _schools

DEMO_NAMESPACE = uuid.UUID("9a4c2f1e-3b7d-4e58-a1c6-0d2e7f9b5c33")
DAYS = 120
HAZARDS = {  # category: descriptions a station would write
    "facilities_civil": ["门卫值守人员年龄偏大，未配备专职保安", "上下学高峰护学岗缺人"],
    "facilities_physical": ["校门口未设置防冲撞设施", "围墙破损约3米", "门卫室防护器械（钢叉、盾牌）不全"],
    "facilities_technical": ["校门监控探头损坏", "一键报警装置未与公安联网", "周界报警失灵"],
    "traffic_facilities": ["校门口缺少减速带和警示标志", "斑马线褪色", "接送车辆乱停占道"],
    "food_safety": ["食堂留样记录不全", "校门口流动摊贩售卖三无食品"],
    "fire": ["宿舍楼灭火器过期", "消防通道堆放杂物", "应急照明灯不亮"],
    "venue": ["学校周边200米内网吧接纳未成年人", "周边出租屋住有重点关注人员"],
    "building": ["教学楼外墙瓷砖脱落", "旧体育器材存在安全隐患"],
    "other": ["上学路段临水无护栏"],
}
UNITS = ("学校保卫处", "学校后勤处", "属地派出所", "镇交管站", "市场监管所", "消防救援站", "住建部门")
FINDERS = ("王警官", "李警官", "张辅警", "陈警官", "刘辅警", "杨警官")
VENUES = (
    ("internet_cafe", ["星际网咖", "极速网吧", "蓝天网吧"]),
    ("game_hall", ["欢乐电玩城", "童趣游艺厅"]),
    ("ktv", ["金嗓子KTV", "麦霸量贩KTV"]),
    ("hotel", ["校园宾馆", "锦江之星酒店"]),
    ("small_inn", ["温馨小旅馆", "山城民宿"]),
    ("rental_housing", ["学府路12号出租屋", "文化巷3号出租房"]),
    ("esports_hotel", ["电竞主题酒店"]),
    ("script_escape_room", ["迷雾剧本杀", "逃出生天密室"]),
    ("food_stall", ["校门口烧烤摊", "辣条小卖部"]),
    ("publication_seller", ["文星书店", "学友文具书报亭"]),
)
VIOLATIONS = ("接纳未成年人", "未核验身份登记", "未悬挂禁止未成年人进入标志", "超时营业", "消防通道堵塞",
              "销售不良出版物", "无证经营")


async def seed_ledgers(db: Db, *, now: datetime) -> int:
    """Add the demo hazards, venues and inspections before `now` (those already present are kept); returns how
    many records were added. Needs the demo jurisdictions and schools."""
    made = 0
    for county in COUNTIES:
        path = await db.fetchval("SELECT path::text FROM jurisdictions WHERE code = :c", {"c": county})
        if path is None:
            continue
        caller = system_caller(county, path, name="demo")
        for n, school in enumerate(await _schools(db, county)):
            made += await _hazards_of(db, caller=caller, county=county, n=n, school=school, now=now)
            made += await _venues_of(db, caller=caller, county=county, n=n, school=school, now=now)
    return made


async def _hazards_of(db: Db, *, caller, county: str, n: int, school: dict, now: datetime) -> int:
    made = 0
    rng = random.Random(f"hazards/{county}/{n}")
    for k in range(rng.choice((1, 2, 2, 3))):
        hazard_id = uuid.uuid5(DEMO_NAMESPACE, f"hazard/{county}/{n}/{k}")
        category = rng.choice(list(HAZARDS))
        description = rng.choice(HAZARDS[category])
        found_at = (now - timedelta(days=rng.uniform(2, DAYS))).astimezone(LOCAL).replace(microsecond=0)
        deadline = (found_at + timedelta(days=rng.choice((3, 7, 15, 30)))).replace(hour=18, minute=0, second=0)
        severity = rng.choices(list(hazards.SEVERITIES), weights=(7, 2, 1))[0]
        on_campus = rng.random() < 0.6
        lon, lat = _move(school["lon"], school["lat"], rng, *((5, 40) if on_campus else (60, 180)))
        fate = rng.choices(("closed", "rectifying", "escalated", "open"), weights=(6, 2, 1, 2))[0]
        took = timedelta(days=rng.uniform(0.5, 40))
        unit, finder = rng.choice(UNITS), rng.choice(FINDERS)
        if await db.fetchval("SELECT 1 FROM hazards WHERE id = :id", {"id": hazard_id}):
            continue
        await hazards.create(db, caller=caller, client_id=hazard_id, request_hash=None, now=found_at,
                             hazard=hazards.HazardInput(
                                 category=category, severity=severity, description=description, found_at=found_at,
                                 deadline=deadline, location=Point(lon, lat), school_id=school["id"],
                                 responsible_unit=unit, found_by_name=finder))
        made += 1
        step = min(found_at + took / 2, now - timedelta(hours=1))
        if fate in ("rectifying", "closed", "escalated"):
            await hazards.update(db, caller=caller, hazard_id=hazard_id, now=step, changes={
                "status": "rectifying", "action_taken": f"已通知{unit}限期整改"})
        if fate == "escalated":
            await hazards.update(db, caller=caller, hazard_id=hazard_id, now=step + timedelta(hours=2), changes={
                "status": "escalated", "escalation_reason": "需县级部门协调资金，现场无法立即整改"})
        if fate == "closed":
            closed_at = min(found_at + took, now - timedelta(minutes=30))
            await hazards.update(db, caller=caller, hazard_id=hazard_id, now=max(closed_at, step), changes={
                "status": "closed", "closing_note": "现场复核，已整改到位，予以销号"})
    return made


async def _venues_of(db: Db, *, caller, county: str, n: int, school: dict, now: datetime) -> int:
    made = 0
    rng = random.Random(f"venues/{county}/{n}")
    for k in range(rng.choice((0, 1, 2, 2, 3))):
        venue_id = uuid.uuid5(DEMO_NAMESPACE, f"venue/{county}/{n}/{k}")
        kind, names = rng.choice(VENUES)
        name = rng.choice(names)
        outside = rng.random() < 0.12
        lon, lat = _move(school["lon"], school["lat"], rng, *((500, 900) if outside else (60, 190)))
        registered = now - timedelta(days=rng.uniform(DAYS, DAYS + 60))
        inspections = [now - timedelta(days=rng.uniform(1, DAYS)) for _ in range(rng.choice((0, 1, 1, 2, 3)))]
        plans = [(rng.random() < 0.3, rng.random()) for _ in inspections]
        if await db.fetchval("SELECT 1 FROM venues WHERE id = :id", {"id": venue_id}):
            continue
        await venues.create(db, caller=caller, client_id=venue_id, request_hash=None, now=registered,
                            venue=venues.VenueInput(name=name, kind=kind, location=Point(lon, lat),
                                                    address=f"距学校约{rng.randint(60, 190)}米",
                                                    operator_name=rng.choice(("赵某", "钱某", "孙某", "周某"))))
        made += 1
        for m, (at, (violating, draw)) in enumerate(zip(sorted(inspections), plans, strict=True)):
            actions: list[str] = []
            fine = None
            if violating:
                actions = ["warning"] if draw < 0.5 else ["warning", "fine"] if draw < 0.8 else ["rectification_order"]
                fine = 2000 if "fine" in actions else None
            await venues.record_inspection(
                db, caller=caller, venue_id=venue_id, client_id=uuid.uuid5(venue_id, f"inspection/{m}"),
                request_hash=None, now=at, inspection=venues.InspectionInput(
                    inspected_at=at, inspector_name=FINDERS[m % len(FINDERS)],
                    findings="发现违规，已当场处理" if violating else "未发现问题",
                    violations=[VIOLATIONS[int(draw * len(VIOLATIONS))]] if violating else [],
                    actions=actions, fine_yuan=fine,
                    follow_up_on=(at + timedelta(days=7)).astimezone(LOCAL).date() if violating else None))
            made += 1
    return made
