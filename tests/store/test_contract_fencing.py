"""Store contract, shard-epoch fencing: a stale shard owner's results are kept but move no state."""

from __future__ import annotations

import collections

from tests.store.test_contract_results import T0, all_results, make_monitor, result
from uptrack.model import Monitor, MonitorSpec
from uptrack.store.base import ApplyPlan, Store


def statuses(store: Store, *monitors: Monitor) -> list[str]:
    states = store.get_states([m.id for m in monitors])
    return [states[m.id].status for m in monitors]


def test_a_result_with_a_lower_epoch_after_a_higher_one_moves_no_state(store: Store) -> None:
    monitor = make_monitor(store)
    store.record_results([result(monitor, 1, epoch=20)])
    state = store.get_state(monitor.id)

    stale = result(monitor, 2, ok=False, epoch=10)
    transitions = store.record_results([stale])

    assert transitions == []
    assert store.get_state(monitor.id) == state
    assert stale in all_results(store, monitor)  # a true observation, kept


def test_results_with_the_epoch_seen_so_far_move_state_as_usual(store: Store) -> None:
    monitor = make_monitor(store)
    store.record_results([result(monitor, 1, epoch=20)])

    [down] = store.record_results([result(monitor, 2, ok=False, epoch=20)])
    [up] = store.record_results([result(monitor, 3, epoch=21)])

    assert (down.to_status, up.to_status) == ("down", "up")
    assert store.get_state(monitor.id).last_slot == result(monitor, 3).slot


def test_the_highest_epoch_is_remembered_not_the_latest(store: Store) -> None:
    monitor = make_monitor(store)
    store.record_results([result(monitor, 1, epoch=30)])
    store.record_results([result(monitor, 2, epoch=10)])

    assert store.record_results([result(monitor, 3, ok=False, epoch=20)]) == []
    assert store.get_state(monitor.id).status == "up"


def test_in_one_batch_the_stale_owners_results_are_refused(store: Store) -> None:
    monitor = make_monitor(store, down_after=1)
    batch = [result(monitor, 1, ok=False, epoch=5), result(monitor, 2, epoch=6)]

    transitions = store.record_results(batch)

    assert [(t.slot, t.to_status) for t in transitions] == [(batch[1].slot, "up")]
    assert len(all_results(store, monitor)) == 2


def test_epoch_zero_everywhere_behaves_as_a_single_node_always_did(store: Store) -> None:
    monitor = make_monitor(store)

    first = store.record_results([result(monitor, 1, epoch=0)])
    second = store.record_results([result(monitor, 2, ok=False, epoch=0)])
    third = store.record_results([result(monitor, 3, epoch=0)])

    assert [t.to_status for t in first + second + third] == ["up", "down", "up"]


def test_epoch_zero_is_never_fenced_so_a_former_cluster_database_works_on_one_node(
    store: Store,
) -> None:
    monitor = make_monitor(store)
    store.record_results([result(monitor, 1, epoch=900)])

    [down] = store.record_results([result(monitor, 2, ok=False, epoch=0)])

    assert down.to_status == "down"


def test_a_higher_epoch_fences_every_monitor_of_its_shard_and_no_other(store: Store) -> None:
    # Monitors fill the shards evenly: one more than there are shards shares one.
    plan = ApplyPlan(
        create=[
            MonitorSpec(
                name=f"m{n:03d}", kind="http", target="https://e.org/", interval=60, timeout=5
            )
            for n in range(257)
        ]
    )
    store.apply_monitors(plan, now=T0)
    by_shard = collections.defaultdict(list)
    for m in store.all_monitors():
        by_shard[m.shard].append(m)
    a, b = next(ms for ms in by_shard.values() if len(ms) >= 2)[:2]
    other = next(ms[0] for shard, ms in by_shard.items() if shard != a.shard)
    store.record_results(
        [result(a, 1, epoch=40), result(b, 1, epoch=40), result(other, 1, epoch=7)]
    )

    # the new owner of a's shard reports with epoch 41, through `a` only
    store.record_results([result(a, 2, epoch=41)])
    transitions = store.record_results(
        [result(b, 2, ok=False, epoch=40), result(other, 2, ok=False, epoch=7)]
    )

    assert [t.monitor_id for t in transitions] == [other.id]
    assert statuses(store, a, b, other) == ["up", "up", "down"]
