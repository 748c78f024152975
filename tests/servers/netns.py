"""Probes run inside a network namespace of the test's own, where the network is ours.

Some cases cannot be made on the host's loopback without changing the host: an
address that never answers a ping, replies that come late or not at all, the
unprivileged ICMP socket (`net.ipv4.ping_group_range`). `IsolatedNetwork` starts
one helper process under `unshare --net` (needs root, as CI has): a namespace
with nothing but its own loopback, whose sysctls are its own. There 127.0.0.1 is
the only local address and the rest of 127.0.0.0/8 has no route (unreachable).
Each request sets the namespace up (kernel echo replies on or off, ICMP datagram
sockets allowed or not), optionally runs the echo responder of
tests/servers/icmp.py, runs one probe and answers its Observation. No packet
leaves the namespace.

The helper is this module run as a script; it reads one JSON request per line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import trio

from tests.servers.icmp import EchoPolicy, serve_echo
from uptrack.model import Observation

ROOT = Path(__file__).resolve().parents[2]


class Request(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    target: str
    timeout: float
    settings: dict[str, Any] = {}
    kernel_echo: bool = True
    unprivileged_icmp: bool = False
    echo: EchoPolicy | None = None


class IsolatedNetwork:
    """A helper process in a network namespace of its own; `probe` runs one check there."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            ["unshare", "--net", "--", sys.executable, "-m", "tests.servers.netns"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def probe_blocking(self, request: Request) -> Observation:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(msgspec.json.encode(request) + b"\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the namespace helper exited ({self._process.wait()})")
        return msgspec.json.decode(line, type=Observation)

    async def probe(self, kind: str, target: str, timeout: float, **options: Any) -> Observation:
        request = Request(kind=kind, target=target, timeout=timeout, **options)
        return await trio.to_thread.run_sync(self.probe_blocking, request)

    def close(self) -> None:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.close()
        self._process.wait(timeout=10)
        self._process.stdout.close()


def _set_up_loopback() -> None:
    """Loopback up with 127.0.0.1 alone: the rest of 127.0.0.0/8 has no route here."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(
        ["ip", "route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local"], check=True
    )


def _prepare(request: Request) -> None:
    sysctl = Path("/proc/sys/net/ipv4")
    (sysctl / "icmp_echo_ignore_all").write_text("0" if request.kernel_echo else "1")
    groups = "0 2147483647" if request.unprivileged_icmp else "1 0"
    (sysctl / "ping_group_range").write_text(groups)


async def _run(request: Request) -> Observation:
    from checker.context import ProbeContext
    from checker.registry import KINDS

    kind = KINDS[request.kind]
    settings = msgspec.convert(request.settings, kind.settings_type)
    async with trio.open_nursery() as nursery:
        if request.echo is not None:
            await nursery.start(serve_echo, request.echo)
        seen = await kind.check(request.target, settings, request.timeout, ProbeContext())
        nursery.cancel_scope.cancel()
    return seen


def main() -> None:
    _set_up_loopback()
    for line in sys.stdin.buffer:
        request = msgspec.json.decode(line, type=Request)
        _prepare(request)
        seen = trio.run(_run, request)
        sys.stdout.buffer.write(msgspec.json.encode(seen) + b"\n")
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
