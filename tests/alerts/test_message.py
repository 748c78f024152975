"""The message every channel sends: its text, its keys and its links."""

from __future__ import annotations

import msgspec
import pytest

from tests.alerts.samples import DOWN, REMINDER, T0, TEST, UP
from uptrack.alerts.message import (
    GroupedMessage,
    dashboard_link,
    dedup_key,
    format_span,
    format_time,
    iso_time,
)


def test_a_down_message_says_what_failed_and_since_when() -> None:
    assert DOWN.text == "🔴 Website is DOWN — status 503 not in 200-399 (since 12:00:03 UTC)"
    assert DOWN.headline == "🔴 Website is DOWN"
    assert DOWN.title == "Website is DOWN"


def test_an_up_message_says_how_long_the_monitor_was_down() -> None:
    assert UP.text == "✅ Website is UP again after 5m 12s"
    assert UP.headline == "✅ Website is UP"


def test_the_downtime_is_counted_from_the_start_when_not_given() -> None:
    up = msgspec.structs.replace(UP, duration=None, at=T0 + 3 * 3600 + 5 * 60)
    assert up.text == "✅ Website is UP again after 3h 5m"


def test_a_reminder_says_the_monitor_is_still_down() -> None:
    assert REMINDER.text == (
        "🔴 Website is still DOWN after 1h 5m — status 503 not in 200-399 (since 12:00:03 UTC)"
    )


def test_a_down_message_without_an_error_text_names_the_error_kind() -> None:
    down = msgspec.structs.replace(DOWN, error=None, error_kind="timeout")
    assert down.text == "🔴 Website is DOWN — timeout (since 12:00:03 UTC)"


def test_since_carries_the_date_when_the_incident_began_on_another_day() -> None:
    reminder = msgspec.structs.replace(REMINDER, at=T0 + 86_400)
    assert "(since 2024-05-01 12:00:03 UTC)" in reminder.text


def test_a_test_message_has_its_own_dedup_key_and_no_monitor() -> None:
    assert TEST.text == "🔔 Test notification from Uptrack: this channel works"
    assert TEST.dedup_key == f"uptrack-test-{int(T0 * 1000)}-test-ch7"
    assert TEST.details()[0] == ("Sent at", "2024-05-01 12:00:03 UTC")


def test_the_details_list_what_failed_for_richer_formats() -> None:
    assert UP.details() == [
        ("Monitor", "Website (http)"),
        ("Target", "https://example.com/health"),
        ("Cause", "status 503 not in 200-399"),
        ("HTTP status", "503"),
        ("Down since", "2024-05-01 12:00:03 UTC"),
        ("Downtime", "5m 12s"),
        ("Incident", "inc42"),
    ]


def test_keys_identify_the_delivery_and_the_incident() -> None:
    assert dedup_key("inc42", "down", "ch7") == "uptrack-inc42-down-ch7"
    assert DOWN.incident_key == UP.incident_key == "uptrack-inc42"


def test_the_dashboard_link_is_the_public_url_and_the_monitor_page() -> None:
    assert dashboard_link("https://uptrack.example/", "m1") == "https://uptrack.example/monitors/m1"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0, "0s"), (45.4, "45s"), (312, "5m 12s"), (3600, "1h 0m"), (93784, "1d 2h")],
)
def test_spans_read_the_way_people_say_them(seconds: float, said: str) -> None:
    assert format_span(seconds) == said


def test_times_are_utc() -> None:
    assert format_time(T0) == "2024-05-01 12:00:03 UTC"
    assert format_time(T0, relative_to=T0 + 60) == "12:00:03 UTC"
    assert iso_time(T0) == "2024-05-01T12:00:03Z"


def test_a_grouped_message_lists_the_first_monitors_and_counts_the_rest() -> None:
    monitors = [
        msgspec.structs.replace(DOWN, monitor_id=f"m{i}", monitor_name=f"Site {i}")
        for i in range(1, 8)
    ]
    group = GroupedMessage(
        event="down",
        messages=tuple(monitors),
        at=T0,
        link="https://uptrack.example/",
        dedup_key="uptrack-group-1-down-ch7",
    )
    assert (
        group.text() == "🔴 7 monitors are DOWN: Site 1, Site 2, Site 3, Site 4, Site 5 and 2 more"
    )
    assert group.lines()[0] == "Site 1 — status 503 not in 200-399"
