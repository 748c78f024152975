"""The interface of a channel kind: a settings struct, its secrets, and `send`.

A channel module defines `class <Name>Settings(ChannelSettings, ...)` and
`async def send(settings, message, ctx) -> None`, and exports both as
`CHANNEL = Channel(...)`; `channels/__init__.py` lists it in `CHANNELS`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from uptrack.alerts.context import NotifyContext
from uptrack.alerts.message import AlertMessage
from uptrack.errors import FieldError


class ChannelSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base of every channel's settings.

    `secret_fields` are write-only: never returned by the API, logged or put in an
    error message (their repr shows `***`). `url_fields` must be http(s) URLs.
    """

    secret_fields: ClassVar[tuple[str, ...]] = ()
    url_fields: ClassVar[tuple[str, ...]] = ()

    def secret_values(self) -> list[str]:
        """Every secret string these settings hold (dict values included)."""
        values: list[str] = []
        for name in self.secret_fields:
            value = getattr(self, name)
            if isinstance(value, str):
                values.append(value)
            elif isinstance(value, dict):
                values.extend(v for v in value.values() if isinstance(v, str))
        return [v for v in values if v]

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'***' if name in self.secret_fields else repr(getattr(self, name))}"
            for name in self.__struct_fields__
        )
        return f"{type(self).__name__}({shown})"


S = TypeVar("S", bound=ChannelSettings)

Send = Callable[[S, AlertMessage, NotifyContext], Awaitable[None]]


def no_checks(settings: Any) -> list[FieldError]:
    return []


@dataclass(frozen=True)
class Channel(Generic[S]):
    """A channel kind, as the registry holds it."""

    name: str
    settings_type: type[S]
    send: Send[S]
    # Checks msgspec cannot express (cross-field rules, friendlier messages).
    check: Callable[[S], list[FieldError]] = no_checks
