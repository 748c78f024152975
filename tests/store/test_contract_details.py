"""Store contract, result details: what a check saw beyond the common fields reads back exactly."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.store.test_contract_results import all_results, make_monitor, result
from uptrack.store.base import Store
from uptrack.store.postgres import PostgresStore

# What the kinds record: a certificate chain, DNS answers, assertion outcomes, …
DETAILS: dict[str, Any] = {
    "chain": [
        {
            "subject": "CN=exämple.org ✓",
            "issuer": "CN=Test CA, O=Uptrack",
            "not_after": "2030-01-01T00:00:00Z",
            "days_left": 2070,
            "sans": ["exämple.org", "*.exämple.org"],
        }
    ],
    "answers": ["192.0.2.1", "2001:db8::1"],
    "ttl": None,
    "assertions": [
        {"assertion": 'json.status == "ok"', "ok": False, "observed": "degraded"},
        {"assertion": "response_time < 800", "ok": True, "observed": 12.345678901234567},
    ],
    "rtt_ms": [0.1 + 0.2, 1e-9, -3.5, 123456.789],
    "big": 2**62,
    "negative": -1,
    "flags": [True, False, None, [], {}],
    'quote"and\\backslash': "tab\tnewline\n",
}


def test_details_read_back_exactly(store: Store) -> None:
    monitor = make_monitor(store)
    stored = result(monitor, 1, details=DETAILS)

    store.record_results([stored])

    [read] = all_results(store, monitor)
    assert read == stored
    assert read.details == DETAILS


def test_a_result_without_details_reads_back_without(store: Store) -> None:
    monitor = make_monitor(store)
    stored = [result(monitor, 1, details=None), result(monitor, 2, details={})]

    store.record_results(stored)

    assert [r.details for r in reversed(all_results(store, monitor))] == [None, {}]


def test_details_json_cannot_hold_do_not_fail_the_batch(store: Store) -> None:
    """NUL (which jsonb refuses), lone surrogates and NaN become what JSON can keep."""
    monitor = make_monitor(store)
    odd = result(
        monitor, 1, details={"banner": "SSH\x00x", "text": "bad \udc80", "x": float("nan")}
    )
    fine = result(monitor, 2, details={"answers": ["192.0.2.1"]})

    transitions = store.record_results([odd, fine])

    assert [t.to_status for t in transitions] == ["up"]
    read = {r.slot: r.details for r in all_results(store, monitor)}
    assert read[odd.slot] == {"banner": "SSH\ufffdx", "text": "bad \ufffd\ufffd\ufffd", "x": None}
    assert read[fine.slot] == {"answers": ["192.0.2.1"]}


def test_on_postgresql_details_are_jsonb_that_queries_can_read(postgres_database: str) -> None:
    store = PostgresStore(postgres_database)
    try:
        store.migrate()
        monitor = make_monitor(store)
        store.record_results([result(monitor, 1, details=DETAILS)])
        with psycopg.connect(postgres_database) as db:
            row = db.execute(
                "SELECT pg_typeof(details)::text, details #>> '{chain,0,subject}' FROM results"
            ).fetchone()
    finally:
        store.close()
    assert row == ("jsonb", "CN=exämple.org ✓")
