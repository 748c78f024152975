"""Validation of monitor definitions from the API, the CLI and monitors files."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import msgspec

from uptrack.alerts.labels import MAX_REMIND, MIN_REMIND, parse_names, parse_tags
from uptrack.errors import FieldError, InvalidInput
from uptrack.heartbeats import KIND as HEARTBEAT
from uptrack.kinds import KindCatalog
from uptrack.model import MonitorSpec
from uptrack.secrets import scrub, secret_values

MIN_INTERVAL = 5
MAX_INTERVAL = 86_400
MAX_RETRIES = 10
MAX_THRESHOLD = 100
MAX_NAME = 200

COMMON_FIELDS = (
    "name",
    "kind",
    "target",
    "interval",
    "timeout",
    "retries",
    "retry_delay",
    "down_after",
    "up_after",
    "paused",
    # alerting (DESIGN §6)
    "tags",
    "channels",
    "remind_every",
)
READ_ONLY_FIELDS = ("id", "status", "shard", "version", "created_at", "updated_at", "last_check")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_AT_FIELD = re.compile(r" - at `\$\.?([^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `([^`]+)`")


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like "30s", "5m", "1.5h", "250ms"."""
    if isinstance(value, bool):
        raise ValueError("expected a number of seconds or a duration like 30s, 5m, 1h")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError(f"{value!r} is not a duration: use seconds or a duration like 30s, 5m, 1h")


def _int_in(value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number from {low} to {high}, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{value} is outside the accepted range {low} to {high}")
    return value


def parse_monitor(
    raw: object, kinds: KindCatalog, *, base: MonitorSpec | None = None
) -> MonitorSpec:
    """Validate a monitor definition; with `base`, `raw` is a partial update of it.

    Raises InvalidInput naming every bad field (kind settings: the first bad one,
    as msgspec reports it).
    """
    if not isinstance(raw, Mapping):
        raise InvalidInput([FieldError("(monitor)", "expected an object of monitor fields")])
    errors: list[FieldError] = []
    for key in raw:
        if not isinstance(key, str):
            errors.append(FieldError(str(key), "field names must be strings"))
        elif key in READ_ONLY_FIELDS:
            errors.append(FieldError(key, "is read-only and cannot be set"))
    values: dict[str, Any] = msgspec.structs.asdict(base) if base else {}
    given = {k: v for k, v in raw.items() if isinstance(k, str) and k not in READ_ONLY_FIELDS}

    def take(field: str) -> object:
        return given[field] if field in given else values.get(field)

    def required(field: str) -> object:
        value = take(field)
        if value is None:
            errors.append(FieldError(field, "is required"))
        return value

    name = required("name")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            errors.append(FieldError("name", "must be a non-empty string"))
        elif len(name) > MAX_NAME:
            errors.append(FieldError("name", f"is {len(name)} characters; at most {MAX_NAME}"))
        elif any(ord(c) < 32 for c in name):
            errors.append(FieldError("name", "must not contain control characters"))

    kind_name = required("kind")
    kind = None
    if kind_name is not None:
        if not isinstance(kind_name, str) or kind_name not in kinds:
            known = ", ".join(sorted(kinds))
            errors.append(FieldError("kind", f"{kind_name!r} is not a known kind ({known})"))
        else:
            kind = kinds[kind_name]

    # A heartbeat monitor is pinged, it probes nothing: its target is an optional label.
    target = take("target") if kind_name == HEARTBEAT else required("target")
    if target is None and kind_name == HEARTBEAT:
        target = ""
    if target is not None and kind is not None:
        if not isinstance(target, str):
            errors.append(FieldError("target", "must be a string"))
        else:
            try:
                target = kind.parse_target(target)
            except ValueError as exc:
                errors.append(FieldError("target", str(exc)))

    interval: int | None = None
    raw_interval = required("interval")
    if raw_interval is not None:
        try:
            seconds = parse_duration(raw_interval)
            if seconds != int(seconds):
                raise ValueError(f"{seconds:g} is not a whole number of seconds")
            if seconds < MIN_INTERVAL:
                raise ValueError(f"{seconds:g} is below the minimum of {MIN_INTERVAL} seconds")
            if seconds > MAX_INTERVAL:
                raise ValueError(f"{seconds:g} is above the maximum of {MAX_INTERVAL} seconds")
            interval = int(seconds)
        except ValueError as exc:
            errors.append(FieldError("interval", str(exc)))

    timeout: float | None = None
    raw_timeout = take("timeout")
    if raw_timeout is None and interval is not None:
        timeout = min(10.0, interval / 2)
    elif raw_timeout is not None:
        try:
            timeout = parse_duration(raw_timeout)
            if timeout <= 0:
                raise ValueError("must be above 0 seconds")
            if interval is not None and timeout >= interval:
                raise ValueError(f"{timeout:g} s must be below the interval ({interval} s)")
        except ValueError as exc:
            errors.append(FieldError("timeout", str(exc)))
            timeout = None

    ints: dict[str, int] = {}
    for field, low, high, default in (
        ("retries", 0, MAX_RETRIES, 2),
        ("down_after", 1, MAX_THRESHOLD, 1),
        ("up_after", 1, MAX_THRESHOLD, 1),
    ):
        value = take(field)
        try:
            ints[field] = default if value is None else _int_in(value, low, high)
        except ValueError as exc:
            errors.append(FieldError(field, str(exc)))

    retry_delay = 3.0
    raw_delay = take("retry_delay")
    if raw_delay is not None:
        try:
            retry_delay = parse_duration(raw_delay)
            if retry_delay < 0:
                raise ValueError("must not be negative")
            if interval is not None and retry_delay >= interval:
                raise ValueError(f"{retry_delay:g} s must be below the interval ({interval} s)")
        except ValueError as exc:
            errors.append(FieldError("retry_delay", str(exc)))

    paused = take("paused")
    if paused is None:
        paused = False
    elif not isinstance(paused, bool):
        errors.append(FieldError("paused", f"expected true or false, got {paused!r}"))

    # -- alerting (DESIGN §6): routing labels and reminders --
    tags = parse_tags(take("tags"), "tags", errors)
    channels = parse_names(take("channels"), "channels", errors)
    remind_every = _remind_every(take("remind_every"), errors)

    settings: dict[str, Any] = {}
    if base is not None and (kind_name is None or kind_name == base.kind):
        settings.update(base.settings)
    settings.update({k: v for k, v in given.items() if k not in COMMON_FIELDS})
    if "settings" in given:
        errors.append(FieldError("settings", "kind settings are given at the top level"))
    if kind is not None:
        errors.extend(_check_settings(kind_name, kind, settings, timeout))

    if errors:
        raise InvalidInput(errors)
    assert isinstance(name, str)
    assert isinstance(kind_name, str)
    assert isinstance(target, str)
    assert interval is not None
    assert timeout is not None
    assert isinstance(paused, bool)
    return MonitorSpec(
        name=name.strip(),
        kind=kind_name,
        target=target,
        interval=interval,
        timeout=timeout,
        retries=ints["retries"],
        retry_delay=retry_delay,
        down_after=ints["down_after"],
        up_after=ints["up_after"],
        paused=paused,
        settings=settings,
        tags=tags,
        channels=channels,
        remind_every=remind_every,
    )


def _remind_every(value: object, errors: list[FieldError]) -> float | None:
    """Seconds between reminders while down (None: no reminders)."""
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        errors.append(FieldError("remind_every", str(exc)))
        return None
    if not MIN_REMIND <= seconds <= MAX_REMIND:
        errors.append(FieldError("remind_every", f"{seconds:g} s is outside the accepted 1m to 7d"))
        return None
    return seconds


def _check_settings(
    kind_name: object, kind: Any, settings: dict[str, Any], timeout: float | None
) -> list[FieldError]:
    try:
        decoded = msgspec.convert(settings, kind.settings_type)
    except msgspec.ValidationError as exc:
        errors = [_settings_error(str(kind_name), kind, str(exc))]
    else:
        pairs: list[tuple[str, str]] = kind.check_settings(decoded, timeout=timeout or 0.0)
        errors = [FieldError(field, message) for field, message in pairs]
    # Messages go back to the client and into logs: none may quote a secret.
    secrets = secret_values(settings, kind)
    return [FieldError(e.field, scrub(e.message, secrets)) for e in errors]


def _settings_error(kind_name: str, kind: Any, message: str) -> FieldError:
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown:
        known = ", ".join(COMMON_FIELDS + kind.settings_type.__struct_fields__)
        return FieldError(
            unknown.group(1), f"is not a field of a {kind_name} monitor (fields: {known})"
        )
    at = _AT_FIELD.search(message)
    if at:
        field = at.group(1) or "(settings)"
        return FieldError(field, message[: at.start()])
    return FieldError("(settings)", message)


def decode_settings(kind: Any, settings: Mapping[str, Any]) -> Any:
    """The kind's settings struct for stored (already validated) settings."""
    return msgspec.convert(dict(settings), kind.settings_type)
