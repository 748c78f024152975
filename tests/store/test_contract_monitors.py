"""Store contract, monitors: CRUD, apply, the change feed, pages, schema and persistence."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

from uptrack.errors import ChangesExpired, Conflict, InvalidInput, NotFound, SchemaTooNew
from uptrack.model import MonitorSpec
from uptrack.slots import shard_of
from uptrack.store.base import ApplyPlan, Store

if TYPE_CHECKING:
    from tests.store.conftest import StoreKind

T0 = 1_714_564_800.0

SETTINGS: dict[str, Any] = {
    "method": "POST",
    "headers": {"X-Ünïcode": "wert ✓", "Accept": "*/*"},
    "expect": {"status": [200, 204], "keyword": None, "ratio": 0.1 + 0.2},
    "big": 2**62,
    "tiny": 5e-324,
    "negative_zero": -0.0,
    "flags": [True, False, None, [], {}],
}


def spec(name: str, **fields: Any) -> MonitorSpec:
    defaults: dict[str, Any] = {"kind": "http", "target": "https://example.org/", "interval": 60}
    return MonitorSpec(name=name, **{"timeout": 10.0, **defaults, **fields})


def test_a_created_monitor_reads_back_exactly_as_it_was_given(store: Store) -> None:
    given = spec(
        "Ünïcödé 監視 🚀",
        timeout=2.5,
        retries=0,
        retry_delay=0.1,
        down_after=3,
        up_after=2,
        paused=True,
        settings=SETTINGS,
    )
    created = store.create_monitor(given, now=T0 + 0.123456789)

    assert re.fullmatch(r"[0-9a-f]{32}", created.id)
    assert created.spec() == given
    assert (created.shard, created.version) == (shard_of(created.id), 1)
    assert created.created_at == created.updated_at == T0 + 0.123456789
    assert store.get_monitor(created.id) == created
    assert store.all_monitors() == [created]
    assert repr(store.get_monitor(created.id).settings) == repr(SETTINGS)


def test_monitors_survive_reopening_the_database(store_kind: StoreKind, store: Store) -> None:
    created = store.create_monitor(spec("kept", settings=SETTINGS), now=T0)
    store.close()

    reopened = store_kind.open()
    reopened.migrate()

    assert reopened.all_monitors() == [created]
    assert reopened.get_state(created.id).status == "pending"


def test_migrating_twice_keeps_the_version_and_the_data(store: Store) -> None:
    created = store.create_monitor(spec("a"), now=T0)
    version = store.migrate()

    assert version >= 1
    assert store.migrate() == version
    assert store.all_monitors() == [created]


def test_a_database_migrated_by_a_newer_release_is_refused(store_kind: StoreKind) -> None:
    store_kind.open().migrate()
    store_kind.set_schema_version(99)

    with pytest.raises(SchemaTooNew) as refused:
        store_kind.open().migrate()

    assert re.fullmatch(
        r"database schema is version 99, this Uptrack knows up to \d+; upgrade Uptrack",
        str(refused.value),
    )


def test_a_new_monitor_starts_pending(store: Store) -> None:
    created = store.create_monitor(spec("a"), now=T0)

    state = store.get_state(created.id)

    assert (state.status, state.last_slot, state.consecutive_failures) == ("pending", None, 0)


def test_creating_a_monitor_with_a_taken_name_raises_conflict(store: Store) -> None:
    first = store.create_monitor(spec("web"), now=T0)

    with pytest.raises(Conflict, match="^a monitor named 'web' exists already$"):
        store.create_monitor(spec("web", target="https://other.example/"), now=T0)

    assert store.all_monitors() == [first]


def test_an_update_bumps_the_version_and_keeps_id_shard_and_created_at(store: Store) -> None:
    created = store.create_monitor(spec("web"), now=T0)
    new_spec = spec("web renamed", interval=300, timeout=30.0, settings={"method": "HEAD"})

    updated = store.update_monitor(created.id, new_spec, now=T0 + 10)

    assert updated.spec() == new_spec
    assert (updated.id, updated.shard, updated.created_at) == (
        created.id,
        created.shard,
        created.created_at,
    )
    assert (updated.version, updated.updated_at) == (2, T0 + 10)
    assert store.get_monitor(created.id) == updated


def test_renaming_onto_a_taken_name_raises_conflict_and_changes_nothing(store: Store) -> None:
    a = store.create_monitor(spec("a"), now=T0)
    b = store.create_monitor(spec("b"), now=T0)

    with pytest.raises(Conflict, match="^a monitor named 'a' exists already$"):
        store.update_monitor(b.id, spec("a"), now=T0 + 1)

    assert store.all_monitors() == [a, b]


def test_unknown_monitors_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.get_monitor("0" * 32)
    with pytest.raises(NotFound):
        store.update_monitor("0" * 32, spec("x"), now=T0)
    with pytest.raises(NotFound):
        store.delete_monitor("0" * 32)
    assert store.all_monitors() == []


def test_a_deleted_monitor_is_gone_and_its_name_free_again(store: Store) -> None:
    created = store.create_monitor(spec("web"), now=T0)

    store.delete_monitor(created.id)

    with pytest.raises(NotFound):
        store.get_monitor(created.id)
    assert store.all_monitors() == []
    again = store.create_monitor(spec("web"), now=T0 + 1)
    assert again.id != created.id


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"ratio": float("nan")}, "NaN"),
        ({"limit": float("inf")}, "infinity"),
        ({"pair": (1, 2)}, "tuple"),
        ({"raw": b"\x00"}, "bytes"),
        ({"nested": {1: "one"}}, "non-string key"),
    ],
)
def test_settings_json_cannot_keep_exactly_are_refused_and_nothing_is_stored(
    store: Store, settings: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        store.create_monitor(spec("web", settings=settings), now=T0)

    assert [e.field for e in refused.value.errors] == ["settings"], reason
    assert store.all_monitors() == []


def test_apply_creates_updates_and_deletes_in_one_call(store: Store) -> None:
    keep = store.create_monitor(spec("keep"), now=T0)
    change = store.create_monitor(spec("change"), now=T0)
    drop = store.create_monitor(spec("drop"), now=T0)
    plan = ApplyPlan(
        create=[spec("new")],
        update=[(change.id, spec("change", interval=120))],
        delete=[drop.id],
    )

    store.apply_monitors(plan, now=T0 + 5)

    by_name = {m.name: m for m in store.all_monitors()}
    assert sorted(by_name) == ["change", "keep", "new"]
    assert by_name["keep"] == keep
    assert (by_name["change"].interval, by_name["change"].version) == (120, 2)
    assert by_name["new"].created_at == T0 + 5


def test_an_apply_plan_whose_last_create_conflicts_changes_nothing(store: Store) -> None:
    a = store.create_monitor(spec("a"), now=T0)
    b = store.create_monitor(spec("b"), now=T0)
    cursor = store.changes_since(0).cursor
    plan = ApplyPlan(
        delete=[a.id],
        update=[(b.id, spec("b", interval=300))],
        create=[spec("c"), spec("b")],
    )

    with pytest.raises(Conflict, match="^a monitor named 'b' exists already$"):
        store.apply_monitors(plan, now=T0 + 1)

    assert store.all_monitors() == [a, b]
    unchanged = store.changes_since(cursor)
    assert (unchanged.changed, unchanged.deleted, unchanged.cursor) == ([], [], cursor)


def test_an_apply_plan_may_delete_a_name_and_create_it_again(store: Store) -> None:
    old = store.create_monitor(spec("web"), now=T0)

    store.apply_monitors(ApplyPlan(delete=[old.id], create=[spec("web")]), now=T0 + 1)

    [new] = store.all_monitors()
    assert new.name == "web"
    assert new.id != old.id


def test_an_apply_plan_with_an_unknown_id_changes_nothing(store: Store) -> None:
    a = store.create_monitor(spec("a"), now=T0)

    with pytest.raises(NotFound):
        store.apply_monitors(ApplyPlan(create=[spec("b")], delete=["0" * 32]), now=T0)

    assert store.all_monitors() == [a]


def test_changes_since_zero_lists_every_monitor_and_no_deletions(store: Store) -> None:
    a = store.create_monitor(spec("a"), now=T0)
    b = store.create_monitor(spec("b"), now=T0)
    gone = store.create_monitor(spec("gone"), now=T0)
    store.delete_monitor(gone.id)

    changes = store.changes_since(0)

    assert (changes.changed, changes.deleted) == ([a, b], [])
    assert changes.cursor > 0


def test_each_change_shows_up_once_after_its_cursor(store: Store) -> None:
    start = store.changes_since(0).cursor

    created = store.create_monitor(spec("web"), now=T0)
    after_create = store.changes_since(start)
    assert (after_create.changed, after_create.deleted) == ([created], [])
    assert after_create.cursor > start

    nothing = store.changes_since(after_create.cursor)
    assert (nothing.changed, nothing.deleted, nothing.cursor) == ([], [], after_create.cursor)

    store.update_monitor(created.id, spec("web", interval=30), now=T0 + 1)
    updated = store.update_monitor(created.id, spec("web", interval=90), now=T0 + 2)
    after_update = store.changes_since(after_create.cursor)
    assert (after_update.changed, after_update.deleted) == ([updated], [])
    assert after_update.cursor > after_create.cursor

    store.delete_monitor(created.id)
    after_delete = store.changes_since(after_update.cursor)
    assert (after_delete.changed, after_delete.deleted) == ([], [created.id])
    assert after_delete.cursor > after_update.cursor
    assert store.changes_since(after_delete.cursor).deleted == []


def test_a_monitor_created_and_deleted_between_two_reads_is_reported_deleted(
    store: Store,
) -> None:
    store.create_monitor(spec("earlier"), now=T0)
    start = store.changes_since(0).cursor
    kept = store.create_monitor(spec("kept"), now=T0)
    brief = store.create_monitor(spec("brief"), now=T0)
    store.delete_monitor(brief.id)

    changes = store.changes_since(start)

    assert (changes.changed, changes.deleted) == ([kept], [brief.id])


def test_a_change_cursor_beyond_the_newest_change_is_refused(store: Store) -> None:
    store.create_monitor(spec("a"), now=T0)
    newest = store.changes_since(0).cursor

    with pytest.raises(ChangesExpired):
        store.changes_since(newest + 1)


def test_walking_monitor_pages_returns_every_monitor_once_in_name_order(store: Store) -> None:
    names = [f"m{i:02d}" for i in range(20)] + ["Zebra", "zebra", "émile", "日本", "a b/c?d"]
    for name in names:
        store.create_monitor(spec(name), now=T0)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.list_monitors(after=cursor, limit=7)
        seen.extend(m.name for m in page.items)
        pages += 1
        if page.next is None:
            break
        cursor = page.next

    assert seen == sorted(names)
    assert pages == 4


def test_a_full_last_page_has_no_next_cursor(store: Store) -> None:
    for name in ("a", "b"):
        store.create_monitor(spec(name), now=T0)

    assert store.list_monitors(limit=2).next is None
    assert store.list_monitors(limit=1).next is not None


@pytest.mark.parametrize("cursor", ["!!!", "", "a", "%%%%", "////", "gA"])
def test_an_invalid_monitor_cursor_is_refused_naming_the_cursor(store: Store, cursor: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        store.list_monitors(after=cursor)

    assert [e.field for e in refused.value.errors] == ["cursor"]


def test_a_page_limit_below_one_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput) as refused:
        store.list_monitors(limit=0)

    assert [e.field for e in refused.value.errors] == ["limit"]


async def test_async_code_calls_the_store_through_a_worker_thread(store: Store) -> None:
    created = await store.call(store.create_monitor, spec("web"), now=T0)

    assert await store.call(store.get_monitor, created.id) == created
