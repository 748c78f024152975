"""`uptrack apply`: make the stored monitors match a monitors file, keyed by name."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import msgspec
import yaml

from uptrack import heartbeats
from uptrack.errors import FieldError, InvalidInput
from uptrack.kinds import KindCatalog
from uptrack.model import Monitor, MonitorSpec
from uptrack.monitors import parse_monitor
from uptrack.store.base import ApplyPlan


class Change(msgspec.Struct, frozen=True):
    action: str  # "create" | "update" | "delete"
    name: str
    fields: list[str] = []  # for updates: the fields that differ


def load_monitors_file(
    path: Path, kinds: KindCatalog, channels: Collection[str] | None = None
) -> list[MonitorSpec]:
    """Parse and validate the whole file; InvalidInput lists every bad field with
    its line (`monitors[2].interval`, line 14). With `channels` (the names of the
    stored alert channels), a monitor routed to any other name is refused too."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidInput([FieldError(str(path), f"cannot be read: {exc.strerror}")]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        line = None
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            line = mark.line + 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput([FieldError("(file)", f"is not valid YAML: {problem}", line)]) from None
    if root is None:
        raise InvalidInput([FieldError("(file)", "is empty; expected `monitors:` with a list")])
    if not isinstance(root, yaml.MappingNode):
        raise InvalidInput(
            [
                FieldError(
                    "(file)", "expected a mapping with a `monitors` list", root.start_mark.line + 1
                )
            ]
        )
    top = {k.value: (k, v) for k, v in root.value if isinstance(k, yaml.ScalarNode)}
    unknown = [k for k in top if k != "monitors"]
    errors = [
        FieldError(
            k,
            "is not a top-level key of a monitors file (only `monitors`)",
            top[k][0].start_mark.line + 1,
        )
        for k in unknown
    ]
    if "monitors" not in top:
        errors.append(FieldError("monitors", "is required: a list of monitors", 1))
        raise InvalidInput(errors)
    items = top["monitors"][1]
    if isinstance(items, yaml.ScalarNode) and items.value in ("", "null", "~"):
        items_list: list[yaml.Node] = []
    elif not isinstance(items, yaml.SequenceNode):
        errors.append(FieldError("monitors", "must be a list", items.start_mark.line + 1))
        raise InvalidInput(errors)
    else:
        items_list = list(items.value)
    specs: list[MonitorSpec] = []
    seen: dict[str, int] = {}
    loader = yaml.SafeLoader("")
    for index, item in enumerate(items_list):
        where = f"monitors[{index}]"
        item_line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            errors.append(FieldError(where, "must be a mapping of monitor fields", item_line))
            continue
        lines = {
            k.value: k.start_mark.line + 1 for k, _ in item.value if isinstance(k, yaml.ScalarNode)
        }
        raw = loader.construct_object(item, deep=True)
        try:
            spec = parse_monitor(raw, kinds)
        except InvalidInput as exc:
            for e in exc.errors:
                field = e.field.split(".")[0].split("[")[0]
                errors.append(
                    FieldError(f"{where}.{e.field}", e.message, lines.get(field, item_line))
                )
            continue
        if spec.name in seen:
            errors.append(
                FieldError(
                    f"{where}.name",
                    f"{spec.name!r} is used already by the monitor on line {seen[spec.name]}",
                    lines.get("name", item_line),
                )
            )
            continue
        seen[spec.name] = item_line
        if channels is not None:
            errors += _unknown_channels(spec, channels, where, lines.get("channels", item_line))
        specs.append(spec)
    if errors:
        raise InvalidInput(errors)
    return specs


def _unknown_channels(
    spec: MonitorSpec, channels: Collection[str], where: str, line: int
) -> list[FieldError]:
    if channels:
        known = "the stored channels are " + ", ".join(repr(c) for c in sorted(channels))
    else:
        known = "no channel is stored yet: create it first (POST /api/v1/channels)"
    return [
        FieldError(f"{where}.channels[{i}]", f"no channel is named {name!r}; {known}", line)
        for i, name in enumerate(spec.channels)
        if name not in channels
    ]


def plan_changes(
    specs: Sequence[MonitorSpec], stored: Sequence[Monitor]
) -> tuple[ApplyPlan, list[Change], int]:
    """What to create, update and delete; plus a readable list and the unchanged count."""
    by_name = {m.name: m for m in stored}
    wanted = {s.name for s in specs}
    create: list[MonitorSpec] = []
    update: list[tuple[str, MonitorSpec]] = []
    changes: list[Change] = []
    unchanged = 0
    for spec in specs:
        current = by_name.get(spec.name)
        if current is None:
            create.append(spec)
            changes.append(Change("create", spec.name))
            continue
        # a heartbeat monitor the file gives no token keeps the stored one
        spec = heartbeats.with_token(spec, current)
        old = msgspec.structs.asdict(current.spec())
        new = msgspec.structs.asdict(spec)
        differing = [f for f in new if new[f] != old[f]]
        if differing:
            update.append((current.id, spec))
            changes.append(Change("update", spec.name, differing))
        else:
            unchanged += 1
    delete = [m for m in stored if m.name not in wanted]
    changes.extend(Change("delete", m.name) for m in delete)
    plan = ApplyPlan(create=create, update=update, delete=[m.id for m in delete])
    return plan, changes, unchanged
