"""Slow clients are cut off: headers or a body trickled byte by byte end in a timeout, not a held connection.

The server runs with the protocol `huxiao serve` uses (api/protocol.py), with short deadlines for the test.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

from api.main import create_app
from api.protocol import DeadlineHttpToolsProtocol


class QuickDeadlines(DeadlineHttpToolsProtocol):
    header_timeout_s = 1.0
    body_timeout_s = 1.5


@pytest.fixture(scope="module")
def slow_server(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                            http=QuickDeadlines, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def _trickle(port: int, data: bytes, *, every_s: float, max_s: float) -> tuple[bytes, float, bool]:
    """Send `data` a byte at a time; return what the server answered, when it closed (seconds), and whether the
    close came as a reset (a byte sent after the server's 408 and close makes the kernel answer with RST, which
    can discard the 408 before it is read: a race of the test, not of the server)."""
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(every_s)
    answer = b""
    reset = False
    try:
        for byte in data:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            try:
                chunk = sock.recv(4096)
                if chunk == b"":
                    break
                answer += chunk
            except TimeoutError:
                pass
            except ConnectionResetError:
                reset = True
                break
            if time.monotonic() - started > max_s:
                break
    finally:
        sock.close()
    return answer, time.monotonic() - started, reset


def test_trickled_headers_are_cut_off_with_408(slow_server):
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200 + b"\r\n\r\n"
    answer, took, reset = _trickle(slow_server, request, every_s=0.1, max_s=10)
    assert answer.startswith(b"HTTP/1.1 408") or (reset and answer == b""), answer[:100]
    assert took < 4
    # Headers that stop half-way: the 408 itself, read before anything more is sent (no reset can hide it).
    with socket.create_connection(("127.0.0.1", slow_server)) as sock:
        sock.sendall(request[:40])
        sock.settimeout(5)
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert time.monotonic() - started < 4


def test_a_trickled_body_is_cut_off(slow_server):
    head = (b"POST /v1/auth/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 200\r\n\r\n")
    sock = socket.create_connection(("127.0.0.1", slow_server))
    sock.sendall(head)
    started = time.monotonic()
    closed = False
    sock.settimeout(0.2)
    while time.monotonic() - started < 10:
        try:
            sock.sendall(b"{")
            if sock.recv(4096) == b"":
                closed = True
                break
        except TimeoutError:
            continue
        except OSError:
            closed = True
            break
    sock.close()
    assert closed and time.monotonic() - started < 5


def test_a_connection_that_sends_nothing_is_closed(slow_server):
    sock = socket.create_connection(("127.0.0.1", slow_server))
    sock.settimeout(5)
    started = time.monotonic()
    data = sock.recv(4096)
    sock.close()
    assert data.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 4


def test_a_normal_request_is_untouched(slow_server):
    sock = socket.create_connection(("127.0.0.1", slow_server))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.settimeout(5)
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    time.sleep(1.6)  # past both deadlines: an idle keep-alive connection is uvicorn's keep-alive business
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    sock.close()
