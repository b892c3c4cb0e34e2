"""Hazard photos: images only (by content), a size limit of their own, stored behind the photo store, closing
evidence, scoped like the hazard."""

from __future__ import annotations

import hashlib
import uuid

from tests.test_ledgers_support import count, hazard_body, jpeg, make_ledger_world, png, report_hazard


async def test_a_photo_is_stored_served_back_and_can_be_closing_evidence(app, client):
    w = await make_ledger_world(app, client)
    h = await report_hazard(client, w.officer, hazard_body(w))
    image = png(40, 30)
    r = await client.post(f"/v1/hazards/{h['id']}/photos", headers={**w.officer.headers,
                                                                    "Content-Type": "application/octet-stream"},
                          content=image)
    assert r.status_code == 201, r.text
    photo = r.json()
    assert (photo["content_type"], photo["width"], photo["height"], photo["size_bytes"]) == \
        ("image/png", 40, 30, len(image))
    assert photo["uploaded_by"] == w.officer.id and photo["uploaded_by_name"] == "Test officer"
    got = await client.get(f"/v1/hazards/{h['id']}/photos/{photo['id']}", headers=w.viewer.headers)
    assert got.status_code == 200 and got.content == image and got.headers["content-type"] == "image/png"
    stored = await count(app, "SELECT encode(sha256, 'hex') FROM hazard_photos WHERE id = :id",
                         id=uuid.UUID(photo["id"]))
    assert stored == hashlib.sha256(image).hexdigest()
    key = await count(app, "SELECT storage_key FROM hazard_photos WHERE id = :id", id=uuid.UUID(photo["id"]))
    assert (app.state.photo_store.root / key).read_bytes() == image
    # A JPEG sent as "image/png" is still a JPEG: the content decides.
    r = await client.post(f"/v1/hazards/{h['id']}/photos", headers={**w.officer.headers, "Content-Type": "image/png"},
                          content=jpeg())
    assert r.status_code == 201 and r.json()["content_type"] == "image/jpeg"
    detail = (await client.get(f"/v1/hazards/{h['id']}", headers=w.officer.headers)).json()
    assert [p["id"] for p in detail["photos"]] == [photo["id"], r.json()["id"]]

    r = await client.patch(f"/v1/hazards/{h['id']}", headers=w.officer.headers, json={
        "status": "closed", "closing_note": "已安装", "closing_photo_ids": [photo["id"], str(uuid.uuid4())]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "closing_photo_ids.1"
    r = await client.patch(f"/v1/hazards/{h['id']}", headers=w.officer.headers, json={
        "status": "closed", "closing_note": "已安装", "closing_photo_ids": [photo["id"]]})
    assert r.status_code == 200 and r.json()["closing_photo_ids"] == [photo["id"]]
    r = await client.post(f"/v1/hazards/{h['id']}/photos", headers={**w.officer.headers, "Content-Type": "image/png"},
                          content=png())
    assert r.status_code == 409


async def test_a_photo_over_the_limit_is_413_and_writes_nothing(app, client):
    w = await make_ledger_world(app, client)
    h = await report_hazard(client, w.officer, hazard_body(w))
    limit = app.state.settings.photo_max_bytes
    assert limit == 10 * 1024 * 1024
    big = png() + b"\0" * (limit + 1 - len(png()))
    r = await client.post(f"/v1/hazards/{h['id']}/photos", headers={**w.officer.headers, "Content-Type": "image/png"},
                          content=big)
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")

    async def chunks():  # no Content-Length: the stream is cut at the limit
        for _ in range(11):
            yield b"\0" * (1024 * 1024)

    r = await client.post(f"/v1/hazards/{h['id']}/photos", headers={**w.officer.headers, "Content-Type": "image/png"},
                          content=chunks())
    assert r.status_code == 413
    assert await count(app, "SELECT count(*) FROM hazard_photos WHERE hazard_id = :id", id=uuid.UUID(h["id"])) == 0
    # The photo limit is the photo path's own: other JSON bodies keep theirs (1 MB).
    r = await client.post("/v1/hazards", headers={**w.officer.headers, "Content-Type": "application/json"},
                          content=b" " * (2 * 1024 * 1024))
    assert r.status_code == 413


async def test_what_is_not_an_image_is_415_whatever_its_content_type(app, client):
    w = await make_ledger_world(app, client)
    h = await report_hazard(client, w.officer, hazard_body(w))
    url = f"/v1/hazards/{h['id']}/photos"
    truncated = png(400, 300)[:200]
    forged = b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10
    gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00" \
          b"\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    for body, content_type in ((b"<html>hello</html>", "image/png"), (b"%PDF-1.4 ...", "image/jpeg"),
                               (truncated, "image/png"), (forged, "image/png"), (gif, "image/gif"),
                               (b"", "image/png")):
        r = await client.post(url, headers={**w.officer.headers, "Content-Type": content_type}, content=body)
        assert r.status_code == 415, (body[:20], r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert await count(app, "SELECT count(*) FROM hazard_photos WHERE hazard_id = :id", id=uuid.UUID(h["id"])) == 0
    assert not (app.state.photo_store.root / "hazards" / h["id"]).exists() or \
        not any((app.state.photo_store.root / "hazards" / h["id"]).iterdir())


async def test_photos_are_scoped_like_their_hazard(app, client):
    w = await make_ledger_world(app, client)
    h = await report_hazard(client, w.officer, hazard_body(w))
    r = await client.post(f"/v1/hazards/{h['id']}/photos", headers={**w.officer.headers, "Content-Type": "image/png"},
                          content=png())
    photo = r.json()
    assert (await client.get(f"/v1/hazards/{h['id']}/photos/{photo['id']}",
                             headers=w.outsider.headers)).status_code == 404
    r = await client.post(f"/v1/hazards/{h['id']}/photos", headers={**w.outsider.headers, "Content-Type": "image/png"},
                          content=png())
    assert r.status_code == 404
    r = await client.post(f"/v1/hazards/{h['id']}/photos", headers={**w.viewer.headers, "Content-Type": "image/png"},
                          content=png())
    assert r.status_code == 403
    other = await report_hazard(client, w.officer, hazard_body(w))
    r = await client.get(f"/v1/hazards/{other['id']}/photos/{photo['id']}", headers=w.officer.headers)
    assert r.status_code == 404  # a photo is reached through its own hazard only
