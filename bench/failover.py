"""Failover of a real 3-node cluster: takeover after kill -9, gaps, drain, etcd load.

Starts its own etcd (one member), PostgreSQL and nginx on loopback, stores
3 x 1,000 TCP monitors at 5 s and runs three node processes with a 2 s lease, then:
steady-state etcd requests/s per node (from etcd's own request counters), five
kill -9 takeovers (lease expiry, and the first check a survivor runs for the dead
node's monitors), the longest gap between two checks of one monitor, and the slots
missed during a rolling restart (SIGTERM, restart, next).

    python bench/failover.py [--monitors 3000] [--ttl 2] [--kills 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cluster import LocalCluster, SlotReport  # noqa: E402
from bench.nodeproc import nginx  # noqa: E402
from cluster.ring import assignment  # noqa: E402
from tests.servers.etcd import start_member  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402
from uptrack.model import MonitorSpec  # noqa: E402

INTERVAL = 5
NAMES = ("node1", "node2", "node3")


def etcd_requests(url: str) -> float:
    """Requests etcd has answered so far (gRPC calls; the gateway makes one per request)."""
    total = 0.0
    for line in httpx.get(url + "/metrics", timeout=5).text.splitlines():
        if line.startswith("grpc_server_handled_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_whole(cluster: LocalCluster, names: tuple[str, ...], deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    want = assignment(256, names)
    while time.monotonic() < end:
        try:
            view = cluster.view(names[0])
            ids = {n["id"]: n["name"] for n in view["nodes"]}
            if {int(s): ids.get(o) for s, o in view["shards"].items()} == want:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"shard map not whole over {names} within {deadline} s")


def first_check_by_survivor(database: str, name: str, killed_at: float, deadline: float) -> float:
    """Seconds from the kill to the first check a survivor ran on a monitor whose last
    check before the kill was the dead node's (the takeover's first catch-up check)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with psycopg.connect(database) as conn:
            row = conn.execute(
                "WITH last AS (SELECT DISTINCT ON (monitor_id) monitor_id, node FROM results"
                "  WHERE started_at < %(k)s AND started_at > %(k)s - 30"
                "  ORDER BY monitor_id, started_at DESC)"
                " SELECT min(r.started_at) FROM results r JOIN last USING (monitor_id)"
                " WHERE last.node = %(n)s AND r.started_at > %(k)s AND r.node <> %(n)s",
                {"k": killed_at, "n": name},
            ).fetchone()
        if row and row[0] is not None:
            return float(row[0]) - killed_at
        time.sleep(0.1)
    raise TimeoutError("no survivor checked the dead node's monitors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, default=3000)
    parser.add_argument("--ttl", type=int, default=2)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--steady", type=float, default=30, help="seconds of steady state")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="uptrack-failover-") as tmp,
        PostgresServer.running() as pg,
    ):
        base = Path(tmp)
        (base / "etcd").mkdir()
        member = trio.run(start_member, base / "etcd")
        database = pg.create_database()
        try:
            with nginx() as target:
                run(args, base, member.client_url, database, target.rsplit(":", 1)[1])
        finally:
            member.kill()


def run(args: argparse.Namespace, base: Path, etcd: str, database: str, port: str) -> None:
    cluster = LocalCluster(base / "nodes", etcd=[etcd], database=database, ttl=args.ttl)
    cluster.create_monitors(
        [
            MonitorSpec(
                name=f"m{i:05d}",
                kind="tcp",
                target=f"127.0.0.1:{port}",
                interval=INTERVAL,
                timeout=2.0,
                retries=0,
            )
            for i in range(args.monitors)
        ]
    )
    try:
        t_start = time.time()
        cluster.start(NAMES)
        wait_whole(cluster, NAMES)
        time.sleep(INTERVAL)
        r0, t0 = etcd_requests(etcd), time.monotonic()
        time.sleep(args.steady)
        load = (etcd_requests(etcd) - r0) / (time.monotonic() - t0) / len(NAMES)

        expiry, takeover = [], []
        for i in range(args.kills):
            name = NAMES[i % len(NAMES)]
            node = cluster.nodes[name]
            killed = time.time()
            node.kill()
            survivors = tuple(n for n in NAMES if n != name)
            wait_whole(cluster, survivors, deadline=args.ttl + 10)
            expiry.append(time.time() - killed)
            takeover.append(first_check_by_survivor(database, name, killed, args.ttl + 10))
            node.start()
            wait_whole(cluster, NAMES)
            time.sleep(INTERVAL)
        kills_end = time.time()
        gap = SlotReport(database, t_start + 2 * INTERVAL, kills_end).max_gap()

        rolling_start = time.time()
        for name in NAMES:
            node = cluster.nodes[name]
            node.stop()
            node.start()
            wait_whole(cluster, NAMES)
        time.sleep(INTERVAL + 1)
        rolling = SlotReport(database, rolling_start, time.time() - INTERVAL)
    finally:
        cluster.stop_all()

    print(
        f"cluster             3 nodes, {args.monitors} tcp monitors at {INTERVAL} s, "
        f"TTL {args.ttl} s"
    )
    print(f"etcd load           {load:.2f} requests/s per node (steady state, {args.steady:.0f} s)")
    p50, worst = statistics.median(expiry), max(expiry)
    print(f"shard map whole     after kill -9: p50 {p50:.2f} s, max {worst:.2f} s")
    print(
        f"takeover            first check by a survivor: p50 {statistics.median(takeover):.2f} s, "
        f"max {max(takeover):.2f} s ({args.kills} kills)"
    )
    print(f"max result gap      {gap:.2f} s (interval {INTERVAL} s, over the kills)")
    print(f"rolling restart     {rolling.missed} missed slots of {rolling.expected}")


if __name__ == "__main__":
    main()
