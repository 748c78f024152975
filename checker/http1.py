"""One HTTP/1.1 exchange over a stream with h11: send a request, read the head and body."""

from __future__ import annotations

from typing import Any

import h11
import trio

from checker.kinds.tcp import Attempt, TargetFault

KIB = 1024
MIB = 1024 * KIB
MAX_HEADER_BYTES = 64 * KIB
"""A response head larger than this is `too_large` (h11's incomplete-event limit)."""

_RECEIVE_BYTES = 64 * KIB


def size_text(n: int) -> str:
    if n % MIB == 0:
        return f"{n // MIB} MiB"
    if n % KIB == 0:
        return f"{n // KIB} KiB"
    return f"{n} bytes"


def encode_request(
    conn: h11.Connection,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
) -> bytes:
    """The bytes of one request with `Connection: close` (and Content-Length for a body)."""
    headers = [*headers, ("Connection", "close")]
    events: list[h11.Event] = []
    if body is not None:
        headers.append(("Content-Length", str(len(body))))
        events.append(h11.Data(data=body))
    head = h11.Request(method=method, target=target, headers=headers)
    return b"".join(conn.send(event) or b"" for event in (head, *events, h11.EndOfMessage()))


async def next_event(stream: trio.abc.Stream, conn: h11.Connection) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = await stream.receive_some(_RECEIVE_BYTES)
        if not data and conn.their_state is h11.SEND_RESPONSE:
            # h11 would report this as an invalid state transition; say what happened.
            if conn.trailing_data[0]:
                raise TargetFault("protocol", "the server closed the connection mid-headers")
            raise TargetFault("protocol", "the server closed the connection without a response")
        conn.receive_data(bytes(data))


class Http1Response:
    """A response head read with h11; the body is read on demand, within a limit."""

    http_version = "1.1"

    def __init__(self, stream: trio.abc.Stream, conn: h11.Connection, head: h11.Response):
        self._stream = stream
        self._conn = conn
        self.status: int = head.status_code
        self.headers: list[tuple[bytes, bytes]] = list(head.headers)

    async def read_body(self, limit: int, *, keep: bool) -> bytes:
        """Read the body to its end; keep it only if asked (the size is always capped)."""
        size = 0
        chunks: list[bytes] = []
        while True:
            event = await next_event(self._stream, self._conn)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > limit:
                    raise TargetFault("too_large", f"body larger than {size_text(limit)}")
                if keep:
                    chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            else:
                raise TargetFault("protocol", f"unexpected {type(event).__name__} in the body")


async def exchange(
    stream: trio.abc.Stream,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
    attempt: Attempt,
) -> Http1Response:
    """Send the request and read the response head (skipping 1xx)."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
    attempt.phase = "sending the request"
    since = trio.current_time()
    await stream.send_all(encode_request(conn, method, target, headers, body))
    attempt.phase = "reading headers"
    event = await next_event(stream, conn)
    while isinstance(event, h11.InformationalResponse):
        event = await next_event(stream, conn)
    if not isinstance(event, h11.Response):
        raise TargetFault("protocol", f"unexpected {type(event).__name__} instead of a response")
    attempt.lap("ttfb", since)
    attempt.http_status = event.status_code
    return Http1Response(stream, conn, event)


def protocol_fault(exc: h11.RemoteProtocolError, phase: str) -> TargetFault:
    if exc.error_status_hint == 431:
        return TargetFault("too_large", f"response head larger than {size_text(MAX_HEADER_BYTES)}")
    reason = str(exc)
    if len(reason) > 120:  # h11 quotes what it could not parse: keep stored errors short
        reason = reason[:120] + "…"
    return TargetFault("protocol", f"{reason} while {phase}")
