"""An authoritative DNS server for tests (dnspython messages) on a loopback UDP+TCP port."""

from __future__ import annotations

import socket
import struct
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Literal

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import trio

DnsMode = Literal["normal", "silent", "garbage", "nxdomain", "truncate", "wrong_id"]
"""- "normal": answers from the zone; a name not in it is NXDOMAIN, a missing type NODATA;
- "silent": reads queries and never answers;
- "garbage": answers bytes that are no DNS message;
- "nxdomain": NXDOMAIN for every name;
- "truncate": over UDP only the TC flag (no answers), over TCP the real answer;
- "wrong_id": answers with another message id (a spoofing attempt)."""

Zone = Mapping[tuple[str, str], Sequence[str]]
"""(name, type) -> record data as in a zone file, e.g. ("www.test", "A"): ["192.0.2.1"]."""

HOST = "127.0.0.1"
TTL = 300


class DnsServer:
    """A running server: where it listens, and the queries it saw as (name, type)."""

    def __init__(self, host: str, port: int, zone: Zone, mode: DnsMode) -> None:
        self.host = host
        self.port = port
        self.address = f"{host}:{port}"
        self.zone = zone
        self.mode = mode
        self.queries: list[tuple[str, str, str]] = []  # (name, type, "udp"|"tcp")

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        """The reply to one query, or None to stay silent."""
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype, transport))
        if self.mode == "silent":
            return None
        if self.mode == "garbage":
            return b"\x13\x37 this is not a DNS message"
        response = dns.message.make_response(query)
        if self.mode == "wrong_id":
            response.id = (query.id + 1) % 65536
        if self.mode == "truncate" and transport == "udp":
            response.flags |= dns.flags.TC
            return response.to_wire()
        names = {zone_name for zone_name, _ in self.zone}
        if self.mode == "nxdomain" or name not in names:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response.to_wire()
        # follow one CNAME, as a resolver's answer would show it
        alias = self.zone.get((name, "CNAME"))
        if alias and rdtype != "CNAME":
            response.answer.append(dns.rrset.from_text(name + ".", TTL, "IN", "CNAME", *alias))
            name = alias[0].rstrip(".").lower()
        records = self.zone.get((name, rdtype))
        if records:
            response.answer.append(dns.rrset.from_text(name + ".", TTL, "IN", rdtype, *records))
        return response.to_wire()


async def _serve_udp(server: DnsServer, sock: trio.socket.SocketType) -> None:
    while True:
        wire, peer = await sock.recvfrom(65535)
        reply = server.answer(wire, "udp")
        if reply is not None:
            await sock.sendto(reply, peer)


async def _serve_tcp_connection(server: DnsServer, stream: trio.abc.Stream) -> None:
    buffer = b""
    try:
        while True:
            while len(buffer) < 2 or len(buffer) < 2 + struct.unpack("!H", buffer[:2])[0]:
                data = await stream.receive_some(65535)
                if not data:
                    return
                buffer += data
            size = struct.unpack("!H", buffer[:2])[0]
            wire, buffer = buffer[2 : 2 + size], buffer[2 + size :]
            reply = server.answer(wire, "tcp")
            if reply is None:
                await trio.sleep_forever()
            else:
                await stream.send_all(struct.pack("!H", len(reply)) + reply)
    except trio.BrokenResourceError:
        pass
    finally:
        await trio.aclose_forcefully(stream)


async def _bind_pair(host: str, port: int) -> tuple[trio.socket.SocketType, trio.socket.SocketType]:
    """A UDP socket and a TCP listener on the same port (another one if it is taken)."""
    for _ in range(50):
        listener = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        udp = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            await listener.bind((host, port))
            await udp.bind((host, listener.getsockname()[1]))
        except OSError:
            listener.close()
            udp.close()
            if port:
                raise
            continue
        listener.listen(16)
        return udp, listener
    raise RuntimeError(f"no port of {host} was free for both UDP and TCP")


@asynccontextmanager
async def serve_dns(
    zone: Zone | None = None, mode: DnsMode = "normal", *, host: str = HOST, port: int = 0
) -> AsyncIterator[DnsServer]:
    """A DNS server over UDP and TCP on one port (ephemeral unless given) of `host`, a
    loopback address (port 53 of 127.0.0.2 and up stands in for system resolvers)."""
    udp, listener = await _bind_pair(host, port)
    port = udp.getsockname()[1]
    server = DnsServer(host, port, zone or {}, mode)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_serve_udp, server, udp)
            nursery.start_soon(
                partial(
                    trio.serve_listeners,
                    partial(_serve_tcp_connection, server),
                    [trio.SocketListener(listener)],
                )
            )
            try:
                yield server
            finally:
                nursery.cancel_scope.cancel()
    finally:
        udp.close()
        listener.close()
