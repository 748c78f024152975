"""Tags and channel names: the labels monitors, channels and maintenance windows route by."""

from __future__ import annotations

import re

from uptrack.errors import FieldError

MAX_TAGS = 20
MAX_CHANNELS = 20
MAX_NAME = 100
MIN_REMIND = 60.0
MAX_REMIND = 7 * 86_400.0

_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/=-]{0,63}$")


def parse_tags(value: object, field: str, errors: list[FieldError]) -> list[str]:
    """A list of tags (letters, digits and `_ . : / = -`, up to 64 characters), each once."""
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(FieldError(field, 'expected a list of tags, like ["prod", "team:web"]'))
        return []
    if len(value) > MAX_TAGS:
        errors.append(FieldError(field, f"has {len(value)} tags; at most {MAX_TAGS}"))
    tags: list[str] = []
    for i, tag in enumerate(value):
        if not isinstance(tag, str) or not _TAG.match(tag):
            errors.append(
                FieldError(
                    f"{field}[{i}]",
                    f"{tag!r} is not a tag: use letters, digits and _ . : / = - (up to 64),"
                    " starting with a letter or digit",
                )
            )
        elif tag not in tags:
            tags.append(tag)
    return tags


def parse_names(value: object, field: str, errors: list[FieldError]) -> list[str]:
    """A list of channel names, each once (whether they exist is the API's check)."""
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(FieldError(field, "expected a list of channel names"))
        return []
    if len(value) > MAX_CHANNELS:
        errors.append(FieldError(field, f"has {len(value)} channels; at most {MAX_CHANNELS}"))
    names: list[str] = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or not name.strip():
            errors.append(FieldError(f"{field}[{i}]", "must be a channel name (a string)"))
        elif name not in names:
            names.append(name)
    return names


def check_name(value: object, field: str, errors: list[FieldError]) -> str | None:
    """A display name: a non-empty string without control characters."""
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(field, "must be a non-empty string"))
        return None
    if len(value) > MAX_NAME:
        errors.append(FieldError(field, f"is {len(value)} characters; at most {MAX_NAME}"))
        return None
    if any(ord(c) < 32 for c in value):
        errors.append(FieldError(field, "must not contain control characters"))
        return None
    return value.strip()
