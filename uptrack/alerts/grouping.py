"""Grouping: many monitors on one channel changing the same way at once become one message.

When more than `threshold` rows of one channel and one event (down or up) were
created within the grouping window, the ones claimed together go out as one
`GroupedMessage` instead of a flood. Channels whose receivers act on each
monitor (PagerDuty and Opsgenie open and close one alert per incident; webhooks
feed automation) always get one message per monitor.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from uptrack.alerts.message import dedup_key
from uptrack.alerts.records import AlertJob
from uptrack.slots import stable_hash

THRESHOLD = 5
"""More rows than this of one channel and event within the window are grouped."""

WINDOW = 10.0
"""Seconds over which rows of one channel and event are counted."""

PER_MONITOR_KINDS = frozenset({"pagerduty", "opsgenie", "webhook"})


class Send(msgspec.Struct, frozen=True, kw_only=True):
    """One message to one channel, covering one row or a group of rows."""

    jobs: list[AlertJob]
    group_key: str | None = None  # the dedup key of a grouped message


def group_key(jobs: Sequence[AlertJob]) -> str:
    """The dedup key of a group: the same for the same rows, whoever sends it."""
    first = jobs[0].delivery
    digest = stable_hash(*sorted(j.delivery.dedup_key for j in jobs))
    return dedup_key(f"group{digest:016x}", first.event, first.channel_id)


def plan_sends(jobs: Sequence[AlertJob], *, threshold: int = THRESHOLD) -> list[Send]:
    """The messages that deliver `jobs`: one per row, except rows that group.

    Rows that went out in a group before (and failed) are retried as that same
    group, under the same key."""
    sends: list[Send] = []
    buckets: dict[tuple[str, str, str], list[AlertJob]] = {}
    for job in jobs:
        d = job.delivery
        if d.group_key is not None:
            buckets.setdefault(("again", d.channel_id, d.group_key), []).append(job)
        elif (
            threshold > 0
            and job.channel_kind is not None
            and job.channel_kind not in PER_MONITOR_KINDS
            and d.event in ("down", "up")
            and job.burst > threshold
        ):
            buckets.setdefault(("new", d.channel_id, d.event), []).append(job)
        else:
            sends.append(Send(jobs=[job]))
    for (how, _, key), grouped in buckets.items():
        if len(grouped) == 1:
            sends.append(Send(jobs=grouped))
        else:
            sends.append(
                Send(jobs=grouped, group_key=key if how == "again" else group_key(grouped))
            )
    return sends
