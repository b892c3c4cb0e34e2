"""`checkins`: not written yet."""

from __future__ import annotations

NAME = "checkins"
TITLE = "checkins (not written yet)"


def run(ctx, workers: int):
    raise RuntimeError("scenario checkins is not written yet")
