"""SMTP targets for the tls kind's STARTTLS: just enough ESMTP, good and broken ways.

(tests/servers/smtp.py is a full SMTP receiver for alert tests; this one exists to
misbehave at each step of the STARTTLS dialogue.)
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import trio

from tests.servers.listeners import Listening, serve_tcp

StartTlsMode = Literal["starttls", "no_starttls", "refuse", "inject", "silent"]
"""- "starttls": greets, offers STARTTLS and upgrades the connection;
- "no_starttls": its EHLO reply does not offer STARTTLS;
- "refuse": answers STARTTLS with 454 (TLS not available);
- "inject": sends a plain-text line right after its STARTTLS reply;
- "silent": never greets."""


async def _line(stream: trio.abc.Stream, buffer: bytearray) -> bytes:
    while b"\n" not in buffer:
        data = await stream.receive_some(4096)
        if not data:
            raise trio.BrokenResourceError("client went away")
        buffer += data
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.rstrip(b"\r")


@asynccontextmanager
async def serve_starttls(
    ssl_context: ssl.SSLContext, mode: StartTlsMode = "starttls"
) -> AsyncIterator[Listening]:
    """An SMTP server on 127.0.0.1 presenting `ssl_context`'s certificate after STARTTLS."""

    async def handle(stream: trio.abc.Stream) -> None:
        if mode == "silent":
            await trio.sleep_forever()
        buffer = bytearray()
        await stream.send_all(b"220-smtp.test ESMTP\r\n220 ready\r\n")
        await _line(stream, buffer)  # EHLO
        offer = b"" if mode == "no_starttls" else b"250-STARTTLS\r\n"
        await stream.send_all(b"250-smtp.test hello\r\n250-PIPELINING\r\n" + offer + b"250 OK\r\n")
        command = await _line(stream, buffer)
        if command.upper() != b"STARTTLS":
            await stream.send_all(b"502 command not implemented\r\n")
            return
        if mode == "refuse":
            await stream.send_all(b"454 TLS not available\r\n")
            return
        extra = b"250 injected\r\n" if mode == "inject" else b""
        await stream.send_all(b"220 go ahead\r\n" + extra)
        tls = trio.SSLStream(stream, ssl_context, server_side=True)
        await tls.do_handshake()
        await tls.receive_some(4096)  # until the client hangs up

    async with serve_tcp(handle) as listening:
        yield listening
