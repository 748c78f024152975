"""A local Uptrack cluster of real node processes on one etcd and one PostgreSQL
(`LocalCluster`, the node set of `uptrack dev cluster`: cluster/dev/nodes.py), and the
figures read back from the results table. Used by the cluster tests and bench/failover.py."""

from __future__ import annotations

import psycopg

from cluster.dev.nodes import LocalCluster
from uptrack.slots import latest_slot, phase_of, slot_time

__all__ = ["LocalCluster", "SlotReport"]


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
