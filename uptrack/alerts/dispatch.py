"""One delivery attempt through a stored channel: the boundary where failures are caught.

Both the outbox deliverer and `POST /api/v1/channels/<id>/test` send through
`attempt`, which never raises for a failed delivery: it returns the NotifyError
(a bug inside a channel becomes a temporary one, logged with its traceback).
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
import structlog

from uptrack.alerts.channel import ChannelSettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.errors import NotifyError
from uptrack.alerts.message import AlertMessage, make_test_message
from uptrack.alerts.records import StoredChannel
from uptrack.alerts.registry import send_alert, validate_channel
from uptrack.errors import InvalidInput

log = structlog.get_logger()


async def attempt(
    kind: str, settings: dict[str, Any], message: AlertMessage, ctx: NotifyContext
) -> NotifyError | None:
    """Send `message` once within the context's deadline; None when it was delivered."""
    try:
        checked = _validated(kind, msgspec.json.encode(settings))
    except InvalidInput as exc:
        # Stored by an older release, or a kind this one does not know.
        return NotifyError(f"{kind}: stored settings are not valid now ({exc})", permanent=True)
    try:
        await send_alert(kind, checked, message, ctx)
    except NotifyError as exc:
        return exc
    except Exception as exc:
        # A bug in a channel must not stop the deliverer; its text could hold a secret.
        log.exception("alert.internal_error", channel_kind=kind, error_type=type(exc).__name__)
        return NotifyError(f"{kind}: internal error ({type(exc).__name__})", permanent=False)
    return None


@functools.lru_cache(maxsize=256)
def _validated(kind: str, settings: bytes) -> ChannelSettings:
    """A channel's stored settings as its struct; a storm sends through one channel
    many times, and validating is the costly part of a send after the request."""
    return validate_channel(kind, msgspec.json.decode(settings))


async def send_test(
    channel: StoredChannel, ctx: NotifyContext, *, at: float
) -> tuple[AlertMessage, NotifyError | None]:
    """Send the test message through `channel` now; the message and how it went."""
    message = make_test_message(channel_id=channel.id, public_url=ctx.public_url, at=at)
    return message, await attempt(channel.kind, channel.settings, message, ctx)
