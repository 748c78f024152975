"""A well-behaved HTTP/1.1 server (h11) for tests, with built-in and configurable routes."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import h11
import msgspec
import trio

from tests.servers.listeners import serve_tcp


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """What the server answers on a route."""

    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = []
    delay: float = 0.0  # seconds to wait before answering


class SeenRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A request as the server received it."""

    method: str
    target: str  # path and query, as sent
    headers: list[tuple[str, str]]  # names in lower case, in the order received
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header `name` (any case), or None."""
        lower = name.lower()
        return next((value for key, value in self.headers if key == lower), None)


class HttpServer:
    """A running server: its URLs, the requests it saw, and its routes.

    Built-in routes (a path in `routes` takes precedence):
    - `/ok`: 200 "ok";
    - `/status/<code>`: that status (200-599), body "status <code>";
    - `/redirect/<n>`: 302 to `/redirect/<n-1>`; `/redirect/0` is 200 "redirected";
    - `/redirect-to?location=<url>&status=<3xx>`: redirects there (302 by default);
    - `/body?size=<n>`: 200 with n bytes of "x";
    - `/delay?seconds=<s>`: 200 "ok" after s seconds;
    - anything else: 404.
    """

    def __init__(self, host: str, port: int, scheme: str) -> None:
        self.host = host
        self.port = port
        self.scheme = scheme
        self.url = f"{scheme}://{host}:{port}"
        self.requests: list[SeenRequest] = []
        self.routes: dict[str, Reply] = {}

    def url_for(self, path: str) -> str:
        return self.url + path

    def reply_to(self, request: SeenRequest) -> Reply:
        parts = urlsplit(request.target)
        path = parts.path
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if path in self.routes:
            return self.routes[path]
        if path == "/ok":
            return Reply(body=b"ok")
        head, _, tail = path.rpartition("/")
        if head == "/status" and tail.isdecimal() and 200 <= int(tail) <= 599:
            return Reply(status=int(tail), body=f"status {tail}".encode())
        if head == "/redirect" and tail.isdecimal():
            if int(tail) == 0:
                return Reply(body=b"redirected")
            return Reply(status=302, headers=[("Location", f"/redirect/{int(tail) - 1}")])
        if path == "/redirect-to" and "location" in query:
            status = int(query.get("status", "302"))
            return Reply(status=status, headers=[("Location", query["location"])])
        if path == "/body":
            return Reply(body=b"x" * int(query.get("size", "0")))
        if path == "/delay":
            return Reply(body=b"ok", delay=float(query.get("seconds", "0")))
        return Reply(status=404, body=b"not found")


async def _receive(stream: trio.abc.Stream, conn: h11.Connection) -> SeenRequest | None:
    """The next request on the connection, or None when the client is done."""
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(bytes(await stream.receive_some(65536)))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            return SeenRequest(
                method=request.method.decode("ascii"),
                target=request.target.decode("ascii"),
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers],
                body=bytes(body),
            )
        else:
            return None


async def _answer(
    stream: trio.abc.Stream, conn: h11.Connection, request: SeenRequest, reply: Reply
) -> None:
    if reply.delay:
        await trio.sleep(reply.delay)
    bodiless = request.method == "HEAD" or reply.status in (204, 304)
    headers = list(reply.headers)
    if reply.status not in (204, 304):
        headers.append(("Content-Length", str(len(reply.body))))
    data = conn.send(h11.Response(status_code=reply.status, headers=headers)) or b""
    if reply.body and not bodiless:
        data += conn.send(h11.Data(data=reply.body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    await stream.send_all(data)


async def _serve_connection(server: HttpServer, stream: trio.abc.Stream) -> None:
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            request = await _receive(stream, conn)
            if request is None:
                return
            server.requests.append(request)
            await _answer(stream, conn, request, server.reply_to(request))
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
    except h11.RemoteProtocolError as exc:
        # Like a real server: a client that does not speak HTTP gets a 400 and a close.
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            headers = [("Connection", "close"), ("Content-Length", "0")]
            bad = h11.Response(status_code=exc.error_status_hint, headers=headers)
            await stream.send_all((conn.send(bad) or b"") + (conn.send(h11.EndOfMessage()) or b""))


@asynccontextmanager
async def serve_http(*, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[HttpServer]:
    """A healthy HTTP (or, with `ssl_context`, HTTPS) server on 127.0.0.1."""
    server: HttpServer | None = None

    async def handle(stream: trio.abc.Stream) -> None:
        assert server is not None
        await _serve_connection(server, stream)

    async with serve_tcp(handle, ssl_context=ssl_context) as listening:
        scheme = "http" if ssl_context is None else "https"
        server = HttpServer(listening.host, listening.port, scheme)
        yield server
