"""One HTTP/2 exchange over a TLS stream that negotiated `h2` (the h2 package, sans-I/O).

One request on stream 1 of a fresh connection, like the HTTP/1.1 path: no
pushes (disabled), a bounded response head and a body capped by the caller;
received data is acknowledged so flow control never stalls a body under the cap.
"""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import trio

from checker.http1 import MAX_HEADER_BYTES, size_text
from checker.kinds.tcp import Attempt, TargetFault

_RECEIVE_BYTES = 64 * 1024
# Bytes a server may send before the response head is complete (frames, settings,
# the compressed head itself): more is a hostile or broken server.
_MAX_BYTES_BEFORE_HEAD = 4 * MAX_HEADER_BYTES
# Headers that are specific to an HTTP/1.1 connection and forbidden in HTTP/2.
_CONNECTION_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"}
)


def _error_name(code: Any) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return str(code)


class _Channel:
    """The connection and its byte stream: receive, feed h2, flush what h2 wants sent."""

    def __init__(self, stream: trio.abc.Stream, conn: h2.connection.H2Connection, sid: int):
        self.stream = stream
        self.conn = conn
        self.sid = sid
        self.pending: list[h2.events.Event] = []
        self.received = 0
        # Bytes the server may send in all; then `over_budget` is raised.
        self.budget = _MAX_BYTES_BEFORE_HEAD
        self.over_budget = TargetFault(
            "too_large", f"response head larger than {size_text(MAX_HEADER_BYTES)}"
        )

    async def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            await self.stream.send_all(data)

    async def next_event(self) -> h2.events.Event:
        while not self.pending:
            data = await self.stream.receive_some(_RECEIVE_BYTES)
            if not data:
                raise TargetFault("protocol", "the server closed the HTTP/2 connection")
            self.received += len(data)
            if self.received > self.budget:
                # h2 buffers a frame until it is complete (up to 16 MiB): bound it here.
                raise self.over_budget
            try:
                self.pending.extend(self.conn.receive_data(data))
            except h2.exceptions.ProtocolError as exc:
                reason = str(exc)[:120] or type(exc).__name__
                raise TargetFault("protocol", f"HTTP/2 protocol error: {reason}") from None
            await self.flush()
        event = self.pending.pop(0)
        if isinstance(event, h2.events.StreamReset) and event.stream_id == self.sid:
            name = _error_name(event.error_code)
            raise TargetFault("protocol", f"the server reset the HTTP/2 stream ({name})")
        if isinstance(event, h2.events.ConnectionTerminated):
            name = _error_name(event.error_code)
            raise TargetFault("protocol", f"the server ended the HTTP/2 connection (GOAWAY {name})")
        return event


class Http2Response:
    """A response head read over HTTP/2; the body is read on demand, within a limit."""

    http_version = "2"

    def __init__(
        self, channel: _Channel, status: int, headers: list[tuple[bytes, bytes]], ended: bool
    ) -> None:
        self._channel = channel
        self._ended = ended
        self.status = status
        self.headers = headers

    async def read_body(self, limit: int, *, keep: bool) -> bytes:
        channel = self._channel
        channel.budget = channel.received + limit + _MAX_BYTES_BEFORE_HEAD  # body and framing
        channel.over_budget = TargetFault("too_large", f"body larger than {size_text(limit)}")
        size = 0
        chunks: list[bytes] = []
        while not self._ended:
            event = await channel.next_event()
            if isinstance(event, h2.events.DataReceived) and event.stream_id == channel.sid:
                size += len(event.data)
                if size > limit:
                    raise TargetFault("too_large", f"body larger than {size_text(limit)}")
                if keep:
                    chunks.append(event.data)
                channel.conn.acknowledge_received_data(event.flow_controlled_length, channel.sid)
                await channel.flush()
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == channel.sid:
                self._ended = True
        return b"".join(chunks)


async def _send_body(channel: _Channel, body: bytes) -> None:
    conn = channel.conn
    while body:
        window = conn.local_flow_control_window(channel.sid)
        if window <= 0:
            await channel.next_event()  # settings, window updates: h2 keeps count
            continue
        chunk = body[: min(window, conn.max_outbound_frame_size)]
        body = body[len(chunk) :]
        conn.send_data(channel.sid, chunk, end_stream=not body)
        await channel.flush()


async def exchange(
    stream: trio.abc.Stream,
    scheme: str,
    authority: str,
    path: str,
    method: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
    attempt: Attempt,
) -> Http2Response:
    """Send one request on a new HTTP/2 connection and read the response head."""
    config = h2.config.H2Configuration(client_side=True, header_encoding=None)
    conn = h2.connection.H2Connection(config)
    conn.local_settings = h2.settings.Settings(
        client=True,
        initial_values={
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_BYTES,
        },
    )
    conn.initiate_connection()
    channel = _Channel(stream, conn, conn.get_next_available_stream_id())
    forced = next((value for name, value in headers if name.lower() == "host"), None)
    request_headers = [
        (":method", method),
        (":scheme", scheme),
        (":authority", forced or authority),
        (":path", path),
        *(
            (name.lower(), value)
            for name, value in headers
            if name.lower() not in _CONNECTION_HEADERS
        ),
    ]
    attempt.phase = "sending the request"
    since = trio.current_time()
    conn.send_headers(channel.sid, request_headers, end_stream=body is None)
    await channel.flush()
    if body is not None:
        await _send_body(channel, body)
    attempt.phase = "reading headers"
    while True:
        event = await channel.next_event()
        if isinstance(event, h2.events.ResponseReceived) and event.stream_id == channel.sid:
            break
        if isinstance(event, h2.events.StreamEnded) and event.stream_id == channel.sid:
            raise TargetFault("protocol", "the server ended the HTTP/2 stream without a response")
    attempt.lap("ttfb", since)
    raw = [(bytes(name), bytes(value)) for name, value in event.headers or ()]
    status_text = next((value for name, value in raw if name == b":status"), b"")
    if not status_text.isdigit():
        raise TargetFault(
            "protocol", f"an HTTP/2 response without a valid :status ({status_text!r})"
        )
    attempt.http_status = int(status_text)
    response_headers = [(name, value) for name, value in raw if not name.startswith(b":")]
    ended = event.stream_ended is not None
    return Http2Response(channel, int(status_text), response_headers, ended)
