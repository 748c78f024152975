"""`/metrics`: the node's own registry in the Prometheus text format, without a token."""

from __future__ import annotations

import httpx
from prometheus_client import CONTENT_TYPE_LATEST

from uptrack.metrics import Metrics


async def test_metrics_are_served_in_the_prometheus_text_format(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    text = response.text
    for line in (
        "# TYPE uptrack_checks_total counter",
        "# TYPE uptrack_check_duration_seconds histogram",
        "# TYPE uptrack_shards_owned gauge",
        "# TYPE uptrack_results_written_total counter",
        "# TYPE uptrack_status_transitions_total counter",
    ):
        assert line in text.splitlines()


async def test_metrics_show_the_values_of_the_injected_registry(
    client: httpx.AsyncClient, metrics: Metrics
) -> None:
    metrics.results_written.inc(3)
    metrics.shards_owned.set(17)
    metrics.checks.labels(kind="http", outcome="up").inc()
    text = (await client.get("/metrics")).text
    assert "uptrack_results_written_total 3.0" in text
    assert "uptrack_shards_owned 17.0" in text
    assert 'uptrack_checks_total{kind="http",outcome="up"} 1.0' in text
