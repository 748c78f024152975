"""A local Uptrack cluster of real node processes on one etcd and one PostgreSQL,
and the figures read back from the results table. Used by the cluster tests and
bench/failover.py."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.nodeproc import NodeProcess
from uptrack.model import MonitorSpec
from uptrack.slots import latest_slot, phase_of, slot_time
from uptrack.store.base import ApplyPlan
from uptrack.store.postgres import PostgresStore


class LocalCluster:
    """Nodes named node1, node2 … sharing `etcd` and `database`."""

    def __init__(
        self, base: Path, *, etcd: list[str], database: str, ttl: int = 2, prefix: str = "/uptrack/"
    ) -> None:
        self.base = base
        self.etcd = etcd
        self.database = database
        self.ttl = ttl
        self.prefix = prefix
        self.nodes: dict[str, NodeProcess] = {}
        self._token: str | None = None

    def node(self, name: str) -> NodeProcess:
        """The node called `name` (made on first use, not started)."""
        if name not in self.nodes:
            data = self.base / name
            data.mkdir(parents=True, exist_ok=True)
            self.nodes[name] = NodeProcess(
                data,
                extra=[
                    "--database",
                    self.database,
                    "--etcd",
                    ",".join(self.etcd),
                    "--node-name",
                    name,
                    "--lease-ttl",
                    str(self.ttl),
                    "--etcd-prefix",
                    self.prefix,
                ],
            )
        return self.nodes[name]

    def start(self, names: Iterable[str]) -> None:
        started = [self.node(n).start(wait=False) for n in names]
        for node in started:
            node.wait_ready()

    def stop_all(self) -> None:
        for node in self.nodes.values():
            node.kill()

    def create_monitors(self, specs: list[MonitorSpec]) -> None:
        store = PostgresStore(self.database)
        try:
            store.migrate()
            store.apply_monitors(ApplyPlan(create=specs), now=time.time())
        finally:
            store.close()

    @property
    def token(self) -> str:
        if self._token is None:
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "uptrack.cli",
                    "token",
                    "create",
                    "--name",
                    "bench",
                    "--scope",
                    "admin",
                    "--database",
                    self.database,
                    "--data-dir",
                    str(self.base / "cli"),
                ],
                check=True,
                capture_output=True,
                text=True,
                timeout=60,
            )
            self._token = out.stdout.strip()
        return self._token

    def view(self, name: str) -> dict[str, Any]:
        """`GET /api/v1/cluster` of one node."""
        node = self.nodes[name]
        reply = httpx.get(
            node.url + "/api/v1/cluster",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=5,
        )
        reply.raise_for_status()
        data: dict[str, Any] = reply.json()
        return data


class SlotReport:
    """What the results table says about the slots due in [t0, t1)."""

    def __init__(self, database: str, t0: float, t1: float) -> None:
        with psycopg.connect(database) as conn:
            monitors = conn.execute("SELECT id, interval FROM monitors").fetchall()
            rows = conn.execute(
                "SELECT monitor_id, slot, started_at, node FROM results "
                "WHERE scheduled_at >= %s AND scheduled_at < %s ORDER BY monitor_id, slot",
                (t0, t1),
            ).fetchall()
        self.t0, self.t1 = t0, t1
        self.by_monitor: dict[str, list[tuple[int, float, str]]] = {}
        for monitor_id, slot, started, node in rows:
            self.by_monitor.setdefault(monitor_id, []).append((slot, started, node))
        self.expected = 0
        self.missing: dict[str, list[int]] = {}
        for monitor_id, interval in monitors:
            phase = phase_of(monitor_id, interval)
            first = latest_slot(t0, interval, phase)
            if slot_time(first) < t0:
                first += interval * 1000
            due = range(first, int(t1 * 1000), interval * 1000)
            self.expected += len(due)
            have = {slot for slot, _, _ in self.by_monitor.get(monitor_id, [])}
            gone = [s for s in due if s not in have]
            if gone:
                self.missing[monitor_id] = gone

    @property
    def missed(self) -> int:
        return sum(len(v) for v in self.missing.values())

    def max_gap(self) -> float:
        """The longest time between two consecutive checks of one monitor."""
        gap = 0.0
        for results in self.by_monitor.values():
            starts = [started for _, started, _ in results]
            gap = max([gap, *(b - a for a, b in zip(starts, starts[1:], strict=False))])
        return gap

    def nodes_of(self, monitor_id: str) -> set[str]:
        return {node for _, _, node in self.by_monitor.get(monitor_id, [])}
