"""An ICMP echo responder on a raw socket that answers the way a test asks.

Only of use where the kernel's own echo replies are off (`icmp_echo_ignore_all=1`
in a network namespace of the test's own, see tests/servers/netns.py): it then
decides which requests get an answer, how late, and whether the answer is sound.
"""

from __future__ import annotations

import socket
import struct

import msgspec
import trio

from checker.kinds.icmp import checksum


class EchoPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How the responder answers echo requests (by sequence number)."""

    drop: list[int] = []  # sequence numbers that get no reply
    delay: float = 0.0  # seconds before each reply
    corrupt: bool = False  # reply with a wrong payload (and once with a stranger's id)


def _reply(request: bytes, policy: EchoPolicy) -> list[bytes]:
    _, _, _, ident, seq = struct.unpack("!BBHHH", request[:8])
    payload = request[8:]
    replies = []
    if policy.corrupt:
        payload = bytes(b ^ 0xFF for b in payload)
        stranger = struct.pack("!BBHHH", 0, 0, 0, (ident + 1) % 65536, seq) + request[8:]
        replies.append(stranger)
    head = struct.pack("!BBHHH", 0, 0, 0, ident, seq)
    replies.append(head + payload)
    return [packet[:2] + struct.pack("!H", checksum(packet)) + packet[4:] for packet in replies]


async def serve_echo(
    policy: EchoPolicy, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Answer IPv4 echo requests on this network namespace until cancelled."""
    with trio.socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        task_status.started()
        async with trio.open_nursery() as nursery:
            while True:
                packet, (source, _) = await sock.recvfrom(2048)
                icmp = packet[(packet[0] & 0x0F) * 4 :]
                if len(icmp) < 8 or icmp[0] != 8:
                    continue
                seq = struct.unpack("!H", icmp[6:8])[0]
                if seq in policy.drop:
                    continue
                nursery.start_soon(_send_later, sock, _reply(icmp, policy), source, policy.delay)


async def _send_later(
    sock: trio.socket.SocketType, packets: list[bytes], to: str, delay: float
) -> None:
    await trio.sleep(delay)
    for packet in packets:
        await sock.sendto(packet, (to, 0))
