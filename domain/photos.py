"""Photo evidence for hazards: images only (decided by their content, never by the client's content type),
within a size limit, kept in one small storage interface.

`PhotoStore` is all the rest of the code knows about storage: `put`, `get`, `delete` by key. `LocalDiskStore`
keeps the bytes under a directory (writes are atomic: a temporary file renamed into place); an object store
(S3, OSS, MinIO) would be another class with the same three methods. The database row is written in the
request's transaction after the bytes are stored; when the transaction fails the bytes are deleted again, so a
photo either exists in both places or in neither (a crash between the two leaves at most an unreferenced file).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import re
import tempfile
import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from PIL import Image, UnidentifiedImageError

from domain import audit
from domain.callers import Caller, Role
from domain.database import Db
from domain.errors import Conflict, NotFound, TooLarge, UnsupportedMedia
from domain.hazards import display_name
from domain.hazards import fetch as fetch_hazard

# What each accepted format starts with, and the media type it is served as.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
_KEY = re.compile(r"^[a-z0-9][a-z0-9_\-/.]{0,298}$")


def sniff(data: bytes) -> str | None:
    """The media type the first bytes announce (JPEG, PNG, WebP), or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int


def inspect_image(data: bytes, *, max_pixels: int) -> ImageInfo:
    """The image's media type and size, when `data` is a whole JPEG, PNG or WebP image that Pillow can read;
    anything else (another format, a truncated or forged file, a decompression bomb) is unsupported media."""
    announced = sniff(data)
    if announced is None:
        raise UnsupportedMedia("the body is not a JPEG, PNG or WebP image", field="body")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt, (width, height) = image.format, image.size
                if width * height > max_pixels:
                    raise UnsupportedMedia(f"the image has more than {max_pixels} pixels", field="body")
                image.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()  # decode it all: a truncated file fails here, not in a viewer later
    except UnsupportedMedia:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise UnsupportedMedia(f"the body is not a readable image ({type(exc).__name__})", field="body") from exc
    if FORMATS.get(fmt or "") != announced:
        raise UnsupportedMedia("the image's content does not match its signature", field="body")
    return ImageInfo(announced, width, height)


class PhotoStore(Protocol):
    """Where photo bytes live; keys are short relative paths made by this module."""

    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...


class LocalDiskStore:
    """Photos as files under `root`; the key is the path below it."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key:
            raise ValueError(f"bad storage key {key!r}")
        return self.root / key

    def _write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, key, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        def remove() -> None:
            with contextlib.suppress(OSError):
                self._path(key).unlink()

        await asyncio.to_thread(remove)


PHOTO_COLUMNS = "id, hazard_id, content_type, size_bytes, width, height, uploaded_by, uploaded_by_name, uploaded_at"


async def add(db: Db, *, caller: Caller, store: PhotoStore, hazard_id: uuid.UUID, data: bytes, max_bytes: int,
              max_pixels: int, now: datetime) -> dict:
    """Attach a photo to a hazard in the caller's scope (officers, commanders, admins); not to a closed one."""
    caller.require(Role.officer, Role.commander)
    hazard = await fetch_hazard(db, caller=caller, hazard_id=hazard_id, lock=True)
    if len(data) > max_bytes:
        raise TooLarge(f"the photo is larger than {max_bytes} bytes", field="body")
    if hazard["status"] == "closed":
        raise Conflict("the hazard is closed; it takes no more photos", field="hazard_id")
    info = await asyncio.to_thread(inspect_image, data, max_pixels=max_pixels)
    photo_id = uuid.uuid4()
    key = f"hazards/{hazard_id}/{photo_id}.{EXTENSIONS[info.content_type]}"
    await store.put(key, data)
    try:
        async with db.atomic() as tx:
            row = await tx.fetchrow(f"""
                INSERT INTO hazard_photos (id, hazard_id, storage_key, content_type, size_bytes, sha256, width,
                                           height, uploaded_by, uploaded_by_name, uploaded_at)
                VALUES (:id, :hazard_id, :key, :content_type, :size, :sha256, :width, :height, :by, :by_name, :now)
                RETURNING {PHOTO_COLUMNS}
            """, {"id": photo_id, "hazard_id": hazard_id, "key": key, "content_type": info.content_type,
                  "size": len(data), "sha256": hashlib.sha256(data).digest(), "width": info.width,
                  "height": info.height, "by": caller.user_id, "by_name": await display_name(tx, caller), "now": now})
            await audit.record(tx, caller=caller, entity="hazard", entity_id=hazard_id, action="add_photo",
                               jurisdiction_code=hazard["jurisdiction_code"],
                               changes={"photo_id": photo_id, "size_bytes": len(data)})
    except BaseException:
        await store.delete(key)
        raise
    return dict(row)


async def read(db: Db, *, caller: Caller, store: PhotoStore, hazard_id: uuid.UUID,
               photo_id: uuid.UUID) -> tuple[bytes, str]:
    """A photo's bytes and media type; seen by whoever sees its hazard."""
    await fetch_hazard(db, caller=caller, hazard_id=hazard_id)
    row = await db.fetchrow("SELECT storage_key, content_type FROM hazard_photos WHERE id = :id AND hazard_id = :h",
                            {"id": photo_id, "h": hazard_id})
    if row is None:
        raise NotFound(f"no photo {photo_id} of hazard {hazard_id}")
    try:
        data = await store.get(row["storage_key"])
    except FileNotFoundError as exc:
        raise NotFound(f"the photo {photo_id} is no longer stored") from exc
    return data, row["content_type"]
