"""An HTTPS server that speaks HTTP/2 when the client offers it (ALPN), HTTP/1.1 otherwise.

The routes are those of `HttpServer` (tests/servers/healthy.py), plus, over HTTP/2
only, `/h2/reset` (the stream is reset) and `/h2/goaway` (the connection is ended).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import h2.config
import h2.connection
import h2.errors
import h2.events
import trio

from tests.servers.healthy import HttpServer, SeenRequest, _serve_connection
from tests.servers.listeners import serve_tcp


class _Stream:
    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.headers = {name.decode(): value.decode() for name, value in headers}
        self.plain = [(n.decode(), v.decode()) for n, v in headers if not n.startswith(b":")]
        self.body = bytearray()


async def _answer(
    server: HttpServer, conn: h2.connection.H2Connection, sid: int, stream: _Stream
) -> None:
    path = stream.headers[":path"]
    if path == "/h2/reset":
        conn.reset_stream(sid, error_code=h2.errors.ErrorCodes.INTERNAL_ERROR)
        return
    if path == "/h2/goaway":
        conn.close_connection(error_code=h2.errors.ErrorCodes.ENHANCE_YOUR_CALM)
        return  # the serving loop stops once this is sent
    request = SeenRequest(
        method=stream.headers[":method"],
        target=path,
        headers=[("host", stream.headers[":authority"]), *stream.plain],
        body=bytes(stream.body),
    )
    server.requests.append(request)
    reply = server.reply_to(request)
    if reply.delay:
        await trio.sleep(reply.delay)
    headers = [(":status", str(reply.status)), ("content-length", str(len(reply.body)))]
    headers += [(name.lower(), value) for name, value in reply.headers]
    conn.send_headers(sid, headers, end_stream=not reply.body)
    body = reply.body
    while body:  # small test bodies: within the initial window, one frame at a time
        chunk = body[: conn.max_outbound_frame_size]
        body = body[len(chunk) :]
        conn.send_data(sid, chunk, end_stream=not body)


async def _serve_h2(server: HttpServer, tls: trio.SSLStream[trio.abc.Stream]) -> None:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    await tls.send_all(conn.data_to_send())
    streams: dict[int, _Stream] = {}
    while True:
        data = await tls.receive_some(65536)
        if not data:
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                streams[event.stream_id] = _Stream(list(event.headers))  # type: ignore[arg-type]
            elif isinstance(event, h2.events.DataReceived):
                streams[event.stream_id].body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):  # also follows a bodiless request
                await _answer(server, conn, event.stream_id, streams[event.stream_id])
        await tls.send_all(conn.data_to_send())
        if conn.state_machine.state is h2.connection.ConnectionState.CLOSED:
            await trio.sleep_forever()  # after GOAWAY: let the client read it, then hang up


@asynccontextmanager
async def serve_http2(ssl_context: ssl.SSLContext) -> AsyncIterator[HttpServer]:
    """An HTTPS server on 127.0.0.1 offering h2 and http/1.1 (`ssl_context` gets ALPN)."""
    ssl_context.set_alpn_protocols(["h2", "http/1.1"])
    server: HttpServer | None = None

    async def handle(stream: trio.abc.Stream) -> None:
        assert server is not None
        assert isinstance(stream, trio.SSLStream)
        await stream.do_handshake()
        if stream.selected_alpn_protocol() == "h2":
            await _serve_h2(server, stream)
        else:
            await _serve_connection(server, stream)

    async with serve_tcp(handle, ssl_context=ssl_context) as listening:
        server = HttpServer(listening.host, listening.port, "https")
        yield server
