"""Prometheus metrics of one node, on a registry of its own (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.checks = Counter(
            "uptrack_checks", "Checks run, by kind and outcome.", ["kind", "outcome"], registry=r
        )
        self.check_duration = Histogram(
            "uptrack_check_duration_seconds",
            "Duration of the last attempt of each check.",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.start_lateness = Histogram(
            "uptrack_check_start_lateness_seconds",
            "How long after its slot's due time a check started.",
            buckets=_LATENESS_BUCKETS,
            registry=r,
        )
        self.internal_errors = Counter(
            "uptrack_check_internal_errors",
            "Checks that failed because of an exception inside the probe, by kind.",
            ["kind"],
            registry=r,
        )
        self.shards_owned = Gauge("uptrack_shards_owned", "Shards this node runs.", registry=r)
        self.monitors_scheduled = Gauge(
            "uptrack_monitors_scheduled", "Monitors scheduled on this node.", registry=r
        )
        self.results_buffered = Gauge(
            "uptrack_results_buffered", "Results waiting to be written to the store.", registry=r
        )
        self.spool_results = Gauge(
            "uptrack_spool_results",
            "Results in the local spool, waiting for the store to take them.",
            registry=r,
        )
        self.results_written = Counter(
            "uptrack_results_written", "Results written to the store.", registry=r
        )
        self.results_dropped = Counter(
            "uptrack_results_dropped",
            "Results dropped because the write buffer or the spool was full.",
            registry=r,
        )
        self.store_errors = Counter(
            "uptrack_store_write_errors", "Failed attempts to write results.", registry=r
        )
        self.supervisor_restarts = Counter(
            "uptrack_supervisor_restarts",
            "Restarts of supervised tasks after a crash, by task.",
            ["task"],
            registry=r,
        )
        self.transitions = Counter(
            "uptrack_status_transitions",
            "Monitor status changes, by new status.",
            ["to"],
            registry=r,
        )
        # -- alerts (DESIGN §6) --
        self.alerts_sent = Counter(
            "uptrack_alerts_sent",
            "Outbox rows delivered, by channel kind (a grouped message counts each row).",
            ["channel_kind"],
            registry=r,
        )
        self.alerts_failed = Counter(
            "uptrack_alerts_failed",
            "Failed delivery attempts of outbox rows, by channel kind.",
            ["channel_kind"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "uptrack_outbox_pending", "Outbox rows waiting to be delivered.", registry=r
        )
        self.outbox_dead = Gauge(
            "uptrack_outbox_dead",
            "Outbox rows given up on after their last attempt (see /api/v1/alerts?status=dead).",
            registry=r,
        )
