"""Demo data for the two seed counties: Pengshui (Chongqing) and Yeji (Lu'an, Anhui). Idempotent."""

from __future__ import annotations

from rich.console import Console

DEMO_LOGINS: list[tuple[str, str, str]] = []


def seed_demo(url: str, *, console: Console) -> None:
    console.print("demo data: nothing to load yet")
