"""CPU cost of each check kind: CPU-seconds per 1,000 checks against local targets.

The probes run in this process in a loop under trio (as a node runs them, sharing
one ProbeContext); the targets run in a child process, so only the probing side's
CPU is counted (`time.process_time()`). Every https check makes a new TLS
handshake; dns asks a test server on a loopback UDP port; icmp pings 127.0.0.1
(one echo request per check; needs root or ping_group_range).

    python bench/kinds.py                          # 1,000 checks per kind, 50 at a time
    python bench/kinds.py --checks 5000 --concurrency 200 --kinds http,dns
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checker.context import ProbeContext  # noqa: E402
from checker.registry import KINDS  # noqa: E402
from uptrack.model import Observation  # noqa: E402

KIND_NAMES = ("http", "https", "https-h2", "tcp", "tls", "dns", "icmp")
TIMEOUT = 5.0


# --- the targets (child process) ----------------------------------------------------------


async def _serve(ca_path: Path) -> None:
    from tests.servers import CertificateAuthority, serve_http, serve_tcp
    from tests.servers.dns import serve_dns
    from tests.servers.http2 import serve_http2

    certificates = CertificateAuthority()
    certificates.write_ca_pem(ca_path)

    async def close_at_once(stream: trio.abc.Stream) -> None:
        pass

    async with (
        serve_http() as http,
        serve_http(ssl_context=certificates.server_context("valid")) as https,
        serve_http2(certificates.fresh_context()) as h2,
        serve_tcp(close_at_once) as tcp,
        serve_dns({("bench.uptrack.test", "A"): ["192.0.2.1"]}) as dns,
    ):
        ports = {"http": http.port, "https": https.port, "h2": h2.port, "tcp": tcp.port}
        ports["dns"] = dns.port
        print(json.dumps(ports), flush=True)
        # until the parent closes our stdin
        await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)


# --- the probes (this process) ------------------------------------------------------------


def _plans(ports: dict[str, int], ca: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """kind name -> (registered kind, target, settings)."""
    return {
        "http": ("http", f"http://127.0.0.1:{ports['http']}/ok", {}),
        "https": ("http", f"https://localhost:{ports['https']}/ok", {"http2": False}),
        "https-h2": ("http", f"https://localhost:{ports['h2']}/ok", {}),
        "tcp": ("tcp", f"127.0.0.1:{ports['tcp']}", {}),
        "tls": ("tls", f"localhost:{ports['https']}", {}),
        "dns": ("dns", "bench.uptrack.test", {"server": f"127.0.0.1:{ports['dns']}"}),
        "icmp": ("icmp", "127.0.0.1", {"count": 1}),
    }


async def _measure(
    check: Callable[[], Any], checks: int, concurrency: int
) -> tuple[float, float, int, str | None]:
    """(CPU seconds, wall seconds, failures, first error) of `checks` checks."""
    limiter = trio.CapacityLimiter(concurrency)
    failures = 0
    first_error: str | None = None

    async def one() -> None:
        nonlocal failures, first_error
        async with limiter:
            seen: Observation = await check()
        if not seen.ok:
            failures += 1
            first_error = first_error or f"{seen.error_kind}: {seen.error}"

    cpu, wall = time.process_time(), time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(checks):
            nursery.start_soon(one)
    return time.process_time() - cpu, time.perf_counter() - wall, failures, first_error


async def _bench(ports: dict[str, int], ca: str, args: argparse.Namespace) -> None:
    ctx = ProbeContext(extra_ca_files=[ca])
    plans = _plans(ports, ca)
    print(f"{args.checks} checks per kind, {args.concurrency} at a time, loopback targets")
    print(f"{'kind':<10} {'CPU-s/1000':>11} {'checks/s':>9} {'failed':>7}")
    for name in args.kinds:
        kind_name, target, raw = plans[name]
        kind = KINDS[kind_name]
        settings = msgspec.convert(raw, kind.settings_type)
        target = kind.parse_target(target)

        async def check(kind: Any = kind, target: str = target, settings: Any = settings) -> Any:
            return await kind.check(target, settings, TIMEOUT, ctx)

        await _measure(check, min(50, args.checks), args.concurrency)  # warm-up
        cpu, wall, failed, error = await _measure(check, args.checks, args.concurrency)
        rate = args.checks / wall if wall else float("inf")
        print(f"{name:<10} {cpu * 1000 / args.checks:>11.3f} {rate:>9.0f} {failed:>7}")
        if error:
            print(f"           first failure: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--kinds", type=lambda s: s.split(","), default=list(KIND_NAMES))
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the child's role
    args = parser.parse_args()
    if args.serve is not None:
        trio.run(_serve, args.serve)
        return
    unknown = set(args.kinds) - set(KIND_NAMES)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}; choose from {', '.join(KIND_NAMES)}")
    with tempfile.TemporaryDirectory() as tmp:
        ca = Path(tmp) / "ca.pem"
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(ca)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            ports = json.loads(child.stdout.readline())
            trio.run(_bench, ports, str(ca), args)
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=10)


if __name__ == "__main__":
    main()
