"""`incidents`: not written yet."""

from __future__ import annotations

NAME = "incidents"
TITLE = "incidents (not written yet)"


def run(ctx, workers: int):
    raise RuntimeError("scenario incidents is not written yet")
