"""`huxiao serve` with a tracker port: one server, the same app, listening on the API port and on the tracker
port, where every path is the OsmAnd endpoint (so the app's server URL can be just `http://host:5055`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HUXIAO = str(Path(sys.executable).with_name("huxiao"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_listens_on_the_tracker_port_too(database_url):
    api_port, tracker_port = _free_port(), _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "HUXIAO_TRACKER_PORT": str(tracker_port),
           "HUXIAO_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([HUXIAO, "serve", "--no-prepare", "--port", str(api_port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:  # wait until the server answers (startup, not a timing assertion)
            try:
                status, _ = _get(f"http://127.0.0.1:{api_port}/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        status, body = _get(f"http://127.0.0.1:{tracker_port}/", data=b'{"device_id":"never-registered",'
                            b'"location":{"timestamp":"2026-12-01T00:00:00Z","coords":{"latitude":30,"longitude":110}}}',
                            headers={"Content-Type": "application/json"})
        assert status == 200 and body == b""
        status, body = _get(f"http://127.0.0.1:{tracker_port}/healthz")  # every path is a position there
        assert status == 422 and b"device identifier" in body
        assert _get(f"http://127.0.0.1:{api_port}/osmand?id=never-registered&lat=30&lon=110")[0] == 200
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert f"http://127.0.0.1:{tracker_port}" in out
