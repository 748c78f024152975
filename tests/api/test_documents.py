"""The JSON shapes: RFC 3339 times and monitor documents with flattened settings."""

from __future__ import annotations

from api.documents import monitor_document, rfc3339
from checker.registry import KINDS
from uptrack.model import Monitor, MonitorState
from uptrack.secrets import MASK


def _monitor(**changes: object) -> Monitor:
    fields: dict[str, object] = {
        "id": "m1",
        "name": "shop",
        "kind": "http",
        "target": "https://example.com/",
        "interval": 60,
        "timeout": 10.0,
        "retries": 2,
        "retry_delay": 3.0,
        "down_after": 1,
        "up_after": 1,
        "paused": False,
        "settings": {"method": "HEAD"},
        "shard": 7,
        "version": 3,
        "created_at": 0.0,
        "updated_at": 1_714_564_800.25,
    }
    fields.update(changes)
    return Monitor(**fields)  # type: ignore[arg-type]


def test_times_are_rfc3339_utc_with_a_z_and_milliseconds() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339(1_714_564_800.25) == "2024-05-01T12:00:00.250Z"


def test_a_monitor_document_lists_common_fields_first_then_settings() -> None:
    doc = monitor_document(_monitor(), MonitorState(monitor_id="m1", status="down"), KINDS)
    assert list(doc)[:3] == ["id", "name", "kind"]
    assert list(doc)[-1] == "method"
    assert doc["status"] == "down"
    assert doc["updated_at"] == "2024-05-01T12:00:00.250Z"


def test_a_paused_monitor_shows_paused_whatever_its_stored_state() -> None:
    doc = monitor_document(_monitor(paused=True), MonitorState(monitor_id="m1", status="up"), KINDS)
    assert doc["status"] == "paused"


def test_a_setting_never_overrides_a_common_field() -> None:
    monitor = _monitor(settings={"status": "up", "version": 99, "method": "GET"})
    doc = monitor_document(monitor, MonitorState(monitor_id="m1"), KINDS)
    assert (doc["status"], doc["version"], doc["method"]) == ("pending", 3, "GET")


def test_last_check_is_null_until_a_slot_was_checked() -> None:
    never = monitor_document(_monitor(), MonitorState(monitor_id="m1"), KINDS)
    assert never["last_check"] is None
    checked = MonitorState(monitor_id="m1", last_slot=5, last_checked_at=60.0, last_ok=False)
    doc = monitor_document(_monitor(), checked, KINDS)
    assert doc["last_check"] == {"slot": 5, "at": "1970-01-01T00:01:00.000Z", "ok": False}


def test_secrets_are_masked_in_the_document() -> None:
    monitor = _monitor(settings={"bearer_token": "t0ken-value", "headers": {"Accept": "*/*"}})
    doc = monitor_document(monitor, MonitorState(monitor_id="m1"), KINDS)
    assert (doc["bearer_token"], doc["headers"]) == (MASK, {"Accept": "*/*"})


def test_the_settings_of_a_kind_this_node_does_not_know_are_not_shown() -> None:
    # Nothing says which of them are secret.
    monitor = _monitor(kind="smtp", settings={"password": "pa55-word", "port": 25})
    doc = monitor_document(monitor, MonitorState(monitor_id="m1"), KINDS)
    assert "password" not in doc
    assert "port" not in doc
    assert doc["kind"] == "smtp"
