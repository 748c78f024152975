"""A recording webhook receiver on 127.0.0.1: keeps every request, replies as scripted.

async with serve_receiver() as receiver:    # Receiver (an HttpServer)
    receiver.url_for("/hooks/abc")          # any path answers `receiver.default`
    receiver.script("/hooks/abc", Reply(status=500), Reply(status=500))
    ...                                     # next two requests there get 500
    seen = await receiver.wait_for(3)       # the first 3 requests, within a deadline
    body_json(seen[0])                      # the JSON body a vendor would receive
"""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msgspec
import trio

from tests.servers.healthy import HttpServer, Reply, SeenRequest, _serve_connection
from tests.servers.listeners import serve_tcp


class Receiver(HttpServer):
    """An HttpServer that answers every path (`default`: 200 "ok") and records requests.

    A reply comes from, in order: the path's script (each scripted reply answers one
    request), `routes[path]`, then `default`.
    """

    def __init__(self, host: str, port: int, scheme: str = "http") -> None:
        super().__init__(host, port, scheme)
        self.default = Reply(status=200, body=b"ok")
        self._scripts: dict[str, deque[Reply]] = {}
        self._arrivals = trio.lowlevel.ParkingLot()

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to `path` with `replies`, one each, then as before."""
        self._scripts.setdefault(path, deque()).extend(replies)

    def reply_to(self, request: SeenRequest) -> Reply:
        # Called once per request, right after it is recorded.
        self._arrivals.unpark_all()
        path = urlsplit(request.target).path
        scripted = self._scripts.get(path)
        if scripted:
            return scripted.popleft()
        return self.routes.get(path, self.default)

    async def wait_for(self, count: int, *, timeout: float = 5.0) -> list[SeenRequest]:
        """The first `count` requests, once they have arrived (TooSlowError otherwise)."""
        with trio.fail_after(timeout):
            while len(self.requests) < count:
                await self._arrivals.park()
        return self.requests[:count]


def path_of(request: SeenRequest) -> str:
    return urlsplit(request.target).path


def query_of(request: SeenRequest) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.target).query))


def body_json(request: SeenRequest) -> Any:
    return msgspec.json.decode(request.body)


def body_form(request: SeenRequest) -> dict[str, str]:
    return dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))


@asynccontextmanager
async def serve_receiver(*, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Receiver]:
    """A Receiver on an ephemeral port of 127.0.0.1 (HTTPS with `ssl_context`), for as
    long as the block runs."""
    receiver: Receiver | None = None

    async def handle(stream: trio.abc.Stream) -> None:
        assert receiver is not None
        await _serve_connection(receiver, stream)

    async with serve_tcp(handle, ssl_context=ssl_context) as listening:
        scheme = "http" if ssl_context is None else "https"
        receiver = Receiver(listening.host, listening.port, scheme)
        yield receiver
