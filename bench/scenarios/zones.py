"""`zones`: not written yet."""

from __future__ import annotations

NAME = "zones"
TITLE = "zones (not written yet)"


def run(ctx, workers: int):
    raise RuntimeError("scenario zones is not written yet")
