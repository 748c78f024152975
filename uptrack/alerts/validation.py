"""Channel and maintenance-window definitions from users: validated once, errors naming fields."""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from cronsim import CronSim, CronSimError

from uptrack.alerts.labels import check_name, parse_tags
from uptrack.alerts.records import ChannelSpec, StoredChannel
from uptrack.alerts.registry import channel_for, validate_channel
from uptrack.alerts.windows import (
    MAX_WEEKLY_DURATION,
    WEEKDAYS,
    CronWindow,
    MaintenanceSpec,
    WeeklyWindow,
)
from uptrack.errors import FieldError, InvalidInput
from uptrack.monitors import parse_duration

CHANNEL_FIELDS = ("name", "kind", "settings", "tags")
MAINTENANCE_FIELDS = ("name", "monitors", "tags", "starts_at", "ends_at", "weekly", "cron")
WEEKLY_FIELDS = ("days", "start", "duration", "timezone")
CRON_FIELDS = ("expression", "duration", "timezone")
READ_ONLY = ("id", "created_at", "updated_at", "active")
MAX_MONITORS = 1000
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def _unknown(raw: Mapping[str, Any], known: tuple[str, ...], what: str) -> list[FieldError]:
    errors = []
    for key in raw:
        if key in READ_ONLY:
            errors.append(FieldError(str(key), "is read-only and cannot be set"))
        elif key not in known:
            errors.append(
                FieldError(str(key), f"is not a field of a {what} (fields: {', '.join(known)})")
            )
    return errors


def parse_channel(raw: Mapping[str, Any], *, base: StoredChannel | None = None) -> ChannelSpec:
    """A channel from an API body; with `base`, a partial update of it (settings too:
    a secret sent back as the mask keeps its stored value, see `validate_channel`)."""
    errors = _unknown(raw, CHANNEL_FIELDS, "channel")
    name = raw.get("name", base.name if base else None)
    if name is None:
        errors.append(FieldError("name", "is required"))
    else:
        name = check_name(name, "name", errors)
    kind = raw.get("kind", base.kind if base else None)
    tags = parse_tags(raw.get("tags", base.tags if base else None), "tags", errors)
    settings: dict[str, Any] = {}
    if kind is None:
        errors.append(FieldError("kind", "is required"))
    else:
        try:
            channel = channel_for(kind)
            stored = None
            if base is not None and base.kind == kind:
                stored = msgspec.convert(base.settings, channel.settings_type)
            given = raw.get("settings", {} if stored is not None else None)
            if given is None:
                raise InvalidInput([FieldError("settings", "is required")])
            checked = validate_channel(kind, given, base=stored)
            settings = msgspec.to_builtins(checked)
        except InvalidInput as exc:
            errors.extend(
                e
                if e.field in ("kind", "settings")
                else FieldError(f"settings.{e.field}", e.message)
                for e in exc.errors
            )
    if errors:
        raise InvalidInput(errors)
    assert isinstance(name, str)
    assert isinstance(kind, str)
    return ChannelSpec(name=name, kind=kind, settings=settings, tags=tags)


def parse_time(value: object, field: str, errors: list[FieldError]) -> float | None:
    """Unix seconds from a number or an RFC 3339 time with an offset (`...Z`)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.timestamp()
    errors.append(
        FieldError(
            field,
            f"{value!r} is not a time: use RFC 3339 with an offset, like 2024-05-01T02:00:00Z",
        )
    )
    return None


def _recurrence(
    raw: object, name: str, fields: tuple[str, ...], errors: list[FieldError]
) -> Mapping[str, Any] | None:
    """The object of a recurring window (`weekly`, `cron`), its unknown keys named."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        errors.append(FieldError(name, f"expected an object: {{{', '.join(fields)}}}"))
        return None
    for key in raw:
        if key not in fields:
            known = ", ".join(fields)
            errors.append(
                FieldError(f"{name}.{key}", f"is not a field of {name} (fields: {known})")
            )
    return raw


def _weekly(value: object, errors: list[FieldError]) -> WeeklyWindow | None:
    raw = _recurrence(value, "weekly", WEEKLY_FIELDS, errors)
    if raw is None:
        return None
    days = raw.get("days")
    if not isinstance(days, list) or not days or any(d not in WEEKDAYS for d in days):
        errors.append(
            FieldError("weekly.days", f"expected a non-empty list of {', '.join(WEEKDAYS)}")
        )
    start = raw.get("start")
    if not isinstance(start, str) or not _CLOCK.match(start):
        errors.append(FieldError("weekly.start", "expected a local time HH:MM, like 02:30"))
    duration = _window_duration(raw.get("duration"), "weekly.duration", errors)
    timezone = _timezone(raw.get("timezone", "UTC"), "weekly.timezone", errors)
    if errors:
        return None
    assert isinstance(days, list)
    assert isinstance(start, str)
    assert duration is not None
    assert timezone is not None
    return WeeklyWindow(
        days=[d for d in WEEKDAYS if d in days], start=start, duration=duration, timezone=timezone
    )


def _cron(value: object, errors: list[FieldError]) -> CronWindow | None:
    raw = _recurrence(value, "cron", CRON_FIELDS, errors)
    if raw is None:
        return None
    expression = raw.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        errors.append(
            FieldError("cron.expression", 'expected a cron expression, like "0 2 * * sun"')
        )
        expression = None
    elif len(expression.split()) != 5:
        errors.append(
            FieldError(
                "cron.expression",
                f"{expression!r} has {len(expression.split())} fields; five are needed: "
                'minute hour day-of-month month day-of-week, like "0 2 * * sun"',
            )
        )
        expression = None
    else:
        expression = " ".join(expression.split())
        try:
            next(CronSim(expression, datetime.datetime.now(datetime.UTC)))
        except (CronSimError, StopIteration) as exc:
            reason = str(exc) or "it names no time"
            errors.append(
                FieldError(
                    "cron.expression",
                    f"{expression!r}: {reason} (five fields: minute hour day-of-month month "
                    'day-of-week, like "0 2 * * sun")',
                )
            )
    duration = _window_duration(raw.get("duration"), "cron.duration", errors)
    timezone = _timezone(raw.get("timezone", "UTC"), "cron.timezone", errors)
    if errors:
        return None
    assert expression is not None
    assert duration is not None
    assert timezone is not None
    return CronWindow(expression=expression, duration=duration, timezone=timezone)


def _window_duration(raw: object, field: str, errors: list[FieldError]) -> float | None:
    try:
        duration = parse_duration(raw)
    except ValueError as exc:
        errors.append(FieldError(field, str(exc)))
        return None
    if not 0 < duration <= MAX_WEEKLY_DURATION:
        errors.append(FieldError(field, f"{duration:g} s is outside 1s to 7d"))
        return None
    return duration


def _timezone(raw: object, field: str, errors: list[FieldError]) -> str | None:
    try:
        if not isinstance(raw, str):
            raise ValueError
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(FieldError(field, f"{raw!r} is not an IANA time zone, like Europe/Berlin"))
        return None
    return raw


def parse_maintenance(
    raw: Mapping[str, Any], *, base: MaintenanceSpec | None = None
) -> MaintenanceSpec:
    """A maintenance window from an API body; with `base`, a partial update of it.

    One-off: `starts_at` and `ends_at`. Weekly: `weekly`; cron: `cron` (then
    `starts_at` and `ends_at` are optional bounds). It covers `monitors` (ids) and `tags`."""
    errors = _unknown(raw, MAINTENANCE_FIELDS, "maintenance window")
    old: dict[str, Any] = msgspec.to_builtins(base) if base is not None else {}
    values = old | dict(raw)
    name = values.get("name")
    if name is None:
        errors.append(FieldError("name", "is required"))
    else:
        name = check_name(name, "name", errors)
    monitors = values.get("monitors") or []
    if not isinstance(monitors, list) or not all(isinstance(m, str) for m in monitors):
        errors.append(FieldError("monitors", "expected a list of monitor ids"))
    elif len(monitors) > MAX_MONITORS:
        errors.append(FieldError("monitors", f"has {len(monitors)} ids; at most {MAX_MONITORS}"))
    tags = parse_tags(values.get("tags"), "tags", errors)
    if not monitors and not tags:
        errors.append(FieldError("monitors", "name the monitors (ids) or tags the window covers"))
    starts_at = parse_time(values.get("starts_at"), "starts_at", errors)
    ends_at = parse_time(values.get("ends_at"), "ends_at", errors)
    recurrence_errors: list[FieldError] = []
    weekly = _weekly(values.get("weekly"), recurrence_errors)
    cron = _cron(values.get("cron"), recurrence_errors)
    errors.extend(recurrence_errors)
    if values.get("weekly") is not None and values.get("cron") is not None:
        errors.append(FieldError("cron", "give weekly or cron, not both (set the other to null)"))
    recurring = weekly is not None or cron is not None
    if not recurring and not recurrence_errors and (starts_at is None or ends_at is None):
        errors.append(
            FieldError(
                "ends_at" if starts_at is not None else "starts_at",
                "a one-off window needs starts_at and ends_at (or give weekly or cron)",
            )
        )
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        errors.append(FieldError("ends_at", "must be after starts_at"))
    if errors:
        raise InvalidInput(errors)
    assert isinstance(name, str)
    return MaintenanceSpec(
        name=name,
        monitors=list(dict.fromkeys(monitors)),
        tags=tags,
        starts_at=starts_at,
        ends_at=ends_at,
        weekly=weekly,
        cron=cron,
    )
