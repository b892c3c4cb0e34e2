"""uvicorn's HTTP protocol with read deadlines: a client that trickles its headers or its body is cut off.

uvicorn has a keep-alive timeout (idle between requests) but no limit on how long a request may take to arrive:
a client sending one header byte a second holds a connection, and a file descriptor, forever (slowloris). This
subclass of uvicorn's httptools protocol arms a deadline when a connection opens or a request begins:

- the request line and headers must arrive within `header_timeout_s` (default 10 s), else `408 Request Timeout`
  and the connection closes before the app sees anything;
- the whole body must then arrive within `body_timeout_s` (default 60 s: 2 MB on a slow mobile network), else
  the connection closes and the app's `receive()` reports a disconnect.

`huxiao serve` passes it to uvicorn as `http="api.protocol:DeadlineHttpToolsProtocol"` (a class path, so every
worker process imports it); the deadlines come from `HUXIAO_HEADER_TIMEOUT_S` and `HUXIAO_BODY_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from domain.settings import get_settings

PROTOCOL_PATH = "api.protocol:DeadlineHttpToolsProtocol"
_TIMEOUT_BODY = (b'{"type":"https://huxiao.dev/problems/request-timeout","title":"Request Timeout",'
                 b'"status":408,"detail":"The request did not arrive in time."}')
TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
                  b"connection: close\r\ncontent-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n"
                  + _TIMEOUT_BODY)


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    header_timeout_s = get_settings().header_timeout_s
    body_timeout_s = get_settings().body_timeout_s

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float, callback) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.write(TIMEOUT_ANSWER)
            self.transport.close()

    def _body_too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()  # the app's receive() sees a disconnect

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s, self._headers_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout_s, self._headers_too_slow)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout_s, self._body_too_slow)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()
