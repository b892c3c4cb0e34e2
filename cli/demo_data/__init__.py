"""Committed demo data for the two seed counties (Pengshui, Chongqing and Yeji, Lu'an, Anhui).

The JSON/GeoJSON files next to this module are produced once by ``generate.py`` (fixed seed) and
committed; loaders read the files, they never re-run the generator.
"""

from __future__ import annotations

from pathlib import Path

DEMO_DATA_DIR = Path(__file__).resolve().parent
JURISDICTIONS_FILE = DEMO_DATA_DIR / "jurisdictions.json"
SCHOOLS_FILE = DEMO_DATA_DIR / "schools.geojson"
PEOPLE_FILE = DEMO_DATA_DIR / "people.json"
DEMO_PASSWORD = "huxiao-demo-2026"

__all__ = ["DEMO_DATA_DIR", "DEMO_PASSWORD", "JURISDICTIONS_FILE", "PEOPLE_FILE", "SCHOOLS_FILE"]
