"""An HTTP target that misbehaves on purpose, one way per path, for failure tests."""

from __future__ import annotations

import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import trio

from tests.servers.listeners import serve_tcp

MAX_HEAD = 64 * 1024

Behaviour = Callable[[trio.abc.Stream, dict[str, str]], Awaitable[None]]


async def _silent(stream: trio.abc.Stream, query: dict[str, str]) -> None:
    """Read the request, never answer (until the server stops)."""
    await trio.sleep_forever()


async def _garbage(stream: trio.abc.Stream, query: dict[str, str]) -> None:
    """Answer bytes that are not HTTP, then close."""
    await stream.send_all(b"\x00\xff\xfe this is not HTTP \x01\x02\r\n\r\n")


async def _close(stream: trio.abc.Stream, query: dict[str, str]) -> None:
    """Close without answering."""


async def _close_mid_headers(stream: trio.abc.Stream, query: dict[str, str]) -> None:
    """Send half a response head, then close."""
    await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/pl")


async def _truncated_body(stream: trio.abc.Stream, query: dict[str, str]) -> None:
    """Promise 1000 bytes of body, send 10, then close."""
    await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")


async def _endless_body(stream: trio.abc.Stream, query: dict[str, str]) -> None:
    """A 200 whose body (delimited by the close that never comes) never ends."""
    await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
    chunk = b"x" * 65536
    while True:
        await stream.send_all(chunk)


async def _huge_headers(stream: trio.abc.Stream, query: dict[str, str]) -> None:
    """A response head that never ends: one header line after another."""
    await stream.send_all(b"HTTP/1.1 200 OK\r\n")
    line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    while True:
        await stream.send_all(line * 16)


async def _drip(stream: trio.abc.Stream, query: dict[str, str]) -> None:
    """A valid response, one byte every `interval` seconds (default 1)."""
    interval = float(query.get("interval", "1"))
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
        await stream.send_all(bytes([byte]))
        await trio.sleep(interval)


async def _reset(stream: trio.abc.Stream, query: dict[str, str]) -> None:
    """Abort the connection with a TCP reset (RST) instead of answering."""
    assert isinstance(stream, trio.SocketStream), "/reset needs a plain TCP connection"
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()


BEHAVIOURS: dict[str, Behaviour] = {
    "/silent": _silent,
    "/garbage": _garbage,
    "/close": _close,
    "/close-mid-headers": _close_mid_headers,
    "/truncated-body": _truncated_body,
    "/endless-body": _endless_body,
    "/huge-headers": _huge_headers,
    "/drip": _drip,
    "/reset": _reset,
}


class HostileServer:
    """A running hostile target; `url_for(path)` for a path of `BEHAVIOURS`.

    Every connection's request head is read first (so closing never turns into a
    reset by unread data), then the path picks the misbehaviour. An unknown path,
    or a client that never finishes its request head (e.g. a TLS ClientHello),
    gets silence.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"

    def url_for(self, path: str) -> str:
        if urlsplit(path).path not in BEHAVIOURS:
            raise ValueError(f"no hostile behaviour at {path!r}; see BEHAVIOURS")
        return self.url + path


async def _read_head(stream: trio.abc.Stream) -> bytes | None:
    head = b""
    while b"\r\n\r\n" not in head:
        data = await stream.receive_some(4096)
        if not data or len(head) > MAX_HEAD:
            return None
        head += data
    return head


async def _misbehave(stream: trio.abc.Stream) -> None:
    head = await _read_head(stream)
    target = head.split(b"\r\n", 1)[0].split(b" ")[1:2] if head else []
    if not target:
        await trio.sleep_forever()
    parts = urlsplit(target[0].decode("latin-1"))
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    await BEHAVIOURS.get(parts.path, _silent)(stream, query)


@asynccontextmanager
async def serve_hostile() -> AsyncIterator[HostileServer]:
    """A hostile HTTP target on 127.0.0.1 (plain TCP)."""
    async with serve_tcp(_misbehave) as listening:
        yield HostileServer(listening.host, listening.port)
