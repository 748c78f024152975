"""The icmp kind: echo requests on trio sockets, judged by packet loss and round trips.

A check resolves the target once and sends `count` echo requests `spacing_ms`
apart from one socket: an unprivileged ICMP datagram socket where
`net.ipv4.ping_group_range` admits the process's group (the kernel then matches
replies to the socket and fills in id and checksum), else a raw socket (root or
CAP_NET_RAW; the probe filters by id, sequence and a random token). Replies are
awaited until every request is answered or the check's time is nearly up; what
has not come back by then is lost.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

import msgspec
import trio

from checker.context import ProbeContext
from checker.kinds.tcp import (
    Attempt,
    IpVersion,
    TargetFault,
    is_ip_literal,
    normalise_host,
    resolve,
)
from uptrack.assertions import FactSchema, check_assertions
from uptrack.model import Observation

MAX_COUNT = 20
PAYLOAD_BYTES = 56  # like ping(8): 64 bytes of ICMP
MAX_PACKETS_READ = 10_000  # per check: a flood of foreign ICMP cannot keep a probe busy
FACTS: FactSchema = {
    "icmp": frozenset(
        {"sent", "received", "loss_percent", "rtt_min_ms", "rtt_avg_ms", "rtt_max_ms"}
    ),
    "response_time": None,
    "ip": None,
}

_ECHO_REQUEST = {socket.AF_INET: 8, socket.AF_INET6: 128}
_ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}
_UNREACHABLE = {socket.AF_INET: 3, socket.AF_INET6: 1}
_TIME_EXCEEDED = {socket.AF_INET: 11, socket.AF_INET6: 3}
_PROTOCOL = {socket.AF_INET: socket.IPPROTO_ICMP, socket.AF_INET6: socket.IPPROTO_ICMPV6}
_SOL_RAW = 255
_ICMP_FILTER = 1  # linux/icmp.h: a bitmask of ICMP types a raw IPv4 socket drops
_ICMP6_FILTER = 1  # linux/icmpv6.h: 256 bits, a set bit drops that ICMPv6 type
# Time kept back from the deadline to count the losses instead of timing out.
_MARGIN = 0.05


class IcmpNotPermitted(Exception):
    """Neither an ICMP datagram socket nor a raw socket may be opened by this process."""


class IcmpSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Settings of an icmp monitor; `IcmpKind.check_settings` checks their ranges."""

    count: int = 3  # echo requests per check
    spacing_ms: int = 200  # between two requests
    max_loss_percent: float | None = None  # fail above this loss; default: only on 100 %
    max_rtt_ms: float | None = None  # fail when the average round trip is slower
    ip_version: IpVersion = "any"
    assertions: list[str] = []


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(family: socket.AddressFamily, ident: int, seq: int, payload: bytes) -> bytes:
    """An ICMP (or ICMPv6) echo request; the IPv6 checksum is left to the kernel."""
    kind = _ECHO_REQUEST[family]
    head = struct.pack("!BBHHH", kind, 0, 0, ident, seq)
    if family == socket.AF_INET6:
        return head + payload
    total = checksum(head + payload)
    return struct.pack("!BBHHH", kind, 0, total, ident, seq) + payload


def _open_socket(family: socket.AddressFamily) -> tuple[trio.socket.SocketType, str]:
    protocol = _PROTOCOL[family]
    try:
        return trio.socket.socket(family, socket.SOCK_DGRAM, protocol), "dgram"
    except PermissionError:
        pass  # the process's group is outside net.ipv4.ping_group_range
    try:
        sock = trio.socket.socket(family, socket.SOCK_RAW, protocol)
    except PermissionError:
        raise IcmpNotPermitted(
            "this process may open neither ICMP datagram sockets (add its group to "
            "net.ipv4.ping_group_range) nor raw sockets (root or CAP_NET_RAW)"
        ) from None
    # Only replies and errors reach the socket, not every echo request on the host.
    passed = (_ECHO_REPLY[family], _UNREACHABLE[family], _TIME_EXCEEDED[family])
    if family == socket.AF_INET:
        blocked = ~sum(1 << kind for kind in passed) & 0xFFFFFFFF
        sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("I", blocked))
    else:
        words = [0xFFFFFFFF] * 8
        for kind in passed:
            words[kind >> 5] &= ~(1 << (kind & 31))
        sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("8I", *words))
    return sock, "raw"


class _Echoes:
    """The requests of one check and the replies that matched them."""

    def __init__(self, family: socket.AddressFamily, mode: str, count: int) -> None:
        self.family = family
        self.mode = mode
        self.ident = int.from_bytes(os.urandom(2), "big")
        self.token = os.urandom(8)
        self.count = count
        self.sent_at: dict[int, float] = {}
        self.rtts: dict[int, float] = {}
        self.error: str | None = None  # an ICMP error about our requests, if any

    def payload(self, seq: int) -> bytes:
        return self.token + bytes((seq + i) % 256 for i in range(PAYLOAD_BYTES - 8))

    def take(self, packet: bytes, source: str, now: float) -> None:
        """Match one received packet to a request; anything else is ignored."""
        icmp = packet
        if self.family == socket.AF_INET and self.mode == "raw":
            if len(packet) < 20:
                return
            icmp = packet[(packet[0] & 0x0F) * 4 :]  # a raw IPv4 socket sees the IP header
        if len(icmp) < 8:
            return
        kind, _, _, ident, seq = struct.unpack("!BBHHH", icmp[:8])
        if kind == _ECHO_REPLY[self.family]:
            if self.mode == "raw" and ident != self.ident:
                return  # another process's ping (the kernel sorts them for dgram sockets)
            if seq in self.sent_at and seq not in self.rtts and icmp[8:16] == self.token:
                self.rtts[seq] = now - self.sent_at[seq]
        elif kind in (_UNREACHABLE[self.family], _TIME_EXCEEDED[self.family]):
            what = "unreachable" if kind == _UNREACHABLE[self.family] else "time exceeded"
            self.error = f"destination {what} (ICMP type {kind} from {source})"

    @property
    def done(self) -> bool:
        return len(self.rtts) == self.count


async def _exchange(
    sock: trio.socket.SocketType, echoes: _Echoes, settings: IcmpSettings, end: float
) -> None:
    """Send the requests on their schedule and collect replies until `end`."""
    start = trio.current_time()
    spacing = settings.spacing_ms / 1000
    next_seq = 0
    reads = 0
    while not echoes.done and trio.current_time() < end and reads < MAX_PACKETS_READ:
        now = trio.current_time()
        if next_seq < echoes.count and now >= start + next_seq * spacing:
            echoes.sent_at[next_seq] = trio.current_time()
            try:
                await sock.send(
                    echo_request(echoes.family, echoes.ident, next_seq, echoes.payload(next_seq))
                )
            except OSError as exc:
                reason = (exc.strerror or str(exc)).lower()
                raise TargetFault("network", f"cannot send an echo request: {reason}") from None
            next_seq += 1
            continue
        wake = end if next_seq >= echoes.count else min(end, start + next_seq * spacing)
        with trio.move_on_at(wake):
            try:
                packet, source = await sock.recvfrom(2048)
            except OSError as exc:  # an ICMP error reported on a datagram socket
                reason = (exc.strerror or str(exc)).lower()
                raise TargetFault("network", f"{reason} (reported for the echo requests)") from None
            reads += 1
            echoes.take(packet, source[0], trio.current_time())


def _statistics(echoes: _Echoes) -> dict[str, Any]:
    sent = len(echoes.sent_at)
    rtts = [rtt * 1000 for rtt in echoes.rtts.values()]
    loss = round(100 * (sent - len(rtts)) / sent, 1) if sent else 100.0
    return {
        "sent": sent,
        "received": len(rtts),
        "loss_percent": loss,
        "rtt_min_ms": round(min(rtts), 3) if rtts else None,
        "rtt_avg_ms": round(sum(rtts) / len(rtts), 3) if rtts else None,
        "rtt_max_ms": round(max(rtts), 3) if rtts else None,
    }


def _judge(stats: dict[str, Any], settings: IcmpSettings, ip: str, echoes: _Echoes) -> None:
    if stats["received"] == 0:
        if echoes.error is not None:
            raise TargetFault("network", echoes.error)
        raise TargetFault(
            "timeout", f"no echo reply from {ip} to {stats['sent']} requests (100% loss)"
        )
    limit = settings.max_loss_percent
    if limit is not None and stats["loss_percent"] > limit:
        raise TargetFault(
            "network",
            f"{stats['loss_percent']:g}% packet loss to {ip} "
            f"({stats['received']} of {stats['sent']} replies), above max_loss_percent {limit:g}",
        )
    if settings.max_rtt_ms is not None and stats["rtt_avg_ms"] > settings.max_rtt_ms:
        raise TargetFault(
            "timeout",
            f"average round trip {stats['rtt_avg_ms']:g} ms to {ip}, "
            f"above max_rtt_ms {settings.max_rtt_ms:g}",
        )


async def _probe(
    host: str, settings: IcmpSettings, ctx: ProbeContext, attempt: Attempt, end: float
) -> Observation:
    addresses = await resolve(host, 0, attempt, ctx.dns_limiter, settings.ip_version)
    family, _, _, sockaddr = addresses[0]
    ip = sockaddr[0]
    attempt.ip = ip
    sock, mode = _open_socket(family)
    with sock:
        attempt.phase = f"pinging {ip}"
        try:
            await sock.connect(sockaddr)
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise TargetFault("network", f"cannot ping {ip}: {reason}") from None
        echoes = _Echoes(family, mode, settings.count)
        await _exchange(sock, echoes, settings, end)
    stats = _statistics(echoes)
    attempt.details["icmp"] = {**stats, "socket": mode}
    _judge(stats, settings, ip, echoes)
    if settings.assertions:
        attempt.judge(
            settings.assertions,
            {"icmp": stats, "response_time": stats["rtt_avg_ms"], "ip": ip},
        )
    return attempt.observe()


def parse_host(target: str) -> str:
    """A host name or an IP address (IPv6 without brackets), normalised."""
    text = target.strip()
    if text.startswith("[") and text.endswith("]") and is_ip_literal(text[1:-1]):
        text = text[1:-1]
    if ":" in text and not is_ip_literal(text) or "/" in text:
        raise ValueError("write a host name or an IP address, without a port or a scheme")
    return normalise_host(text)


class IcmpKind:
    """Up when echo replies come back with loss and round trips within the limits."""

    name = "icmp"
    settings_type = IcmpSettings
    secret_fields: tuple[str, ...] = ()
    secret_header_fields: tuple[str, ...] = ()
    secret_url_fields: tuple[str, ...] = ()

    def parse_target(self, target: str) -> str:
        return parse_host(target)

    def check_settings(self, settings: msgspec.Struct, *, timeout: float) -> list[tuple[str, str]]:
        if not isinstance(settings, IcmpSettings):
            raise TypeError(f"expected IcmpSettings, got {type(settings).__name__}")
        problems: list[tuple[str, str]] = []
        if not 1 <= settings.count <= MAX_COUNT:
            problems.append(("count", f"{settings.count} is not within 1-{MAX_COUNT}"))
        if not 10 <= settings.spacing_ms <= 5000:
            problems.append(("spacing_ms", f"{settings.spacing_ms} is not within 10-5000"))
        elif timeout and (settings.count - 1) * settings.spacing_ms / 1000 >= timeout:
            problems.append(
                (
                    "spacing_ms",
                    f"{settings.count} requests {settings.spacing_ms} ms apart do not fit "
                    f"in the timeout ({timeout:g} s)",
                )
            )
        loss = settings.max_loss_percent
        if loss is not None and not 0 <= loss < 100:
            problems.append(("max_loss_percent", f"{loss:g} is not within 0-99.9"))
        if settings.max_rtt_ms is not None and not settings.max_rtt_ms > 0:
            problems.append(("max_rtt_ms", "must be above 0"))
        problems.extend(check_assertions(settings.assertions, FACTS))
        return problems

    async def check(
        self, target: str, settings: Any, timeout: float, ctx: ProbeContext
    ) -> Observation:
        host = parse_host(target)
        attempt = Attempt()
        deadline = trio.current_time() + timeout
        end = deadline - min(_MARGIN, timeout / 10)
        with trio.move_on_at(deadline):
            try:
                return await _probe(host, settings, ctx, attempt, end)
            except TargetFault as fault:
                return attempt.observe(fault.kind, fault.message)
            except IcmpNotPermitted as exc:
                return attempt.observe("internal", str(exc))
        return attempt.timed_out(timeout)


KIND = IcmpKind()
