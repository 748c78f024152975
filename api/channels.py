"""The channels resource: where alerts go. Secrets are write-only; `…/test` sends now."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from api.bodies import read_json_object
from api.context import ApiContext, context_of
from api.documents import ListDocument, json_response, rfc3339
from uptrack.alerts.channels import CHANNELS
from uptrack.alerts.context import open_notify_context
from uptrack.alerts.dispatch import send_test
from uptrack.alerts.records import StoredChannel
from uptrack.alerts.registry import redact
from uptrack.alerts.validation import parse_channel
from uptrack.errors import FieldError, InvalidInput
from uptrack.model import MonitorSpec

TEST_DEADLINE = 10.0


class ChannelDocument(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    kind: str
    tags: list[str]
    settings: dict[str, Any]  # each secret that is set shows as the mask
    created_at: str
    updated_at: str


class TestOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """How a test send went: `delivered`, or the error and whether a retry could help."""

    delivered: bool
    dedup_key: str
    error: str | None = None
    permanent: bool | None = None


def channel_document(channel: StoredChannel) -> ChannelDocument:
    kind = CHANNELS.get(channel.kind)
    try:
        settings = redact(msgspec.convert(channel.settings, kind.settings_type)) if kind else {}
    except msgspec.ValidationError:
        settings = {}  # stored by another release: show nothing rather than a secret
    return ChannelDocument(
        id=channel.id,
        name=channel.name,
        kind=channel.kind,
        tags=channel.tags,
        settings=settings,
        created_at=rfc3339(channel.created_at),
        updated_at=rfc3339(channel.updated_at),
    )


async def check_channel_names(ctx: ApiContext, spec: MonitorSpec) -> None:
    """422 naming each of a monitor's `channels` that is not a stored channel."""
    if not spec.channels:
        return
    known = {c.name for c in await ctx.store.call(ctx.store.list_channels)}
    errors = [
        FieldError(f"channels[{i}]", f"no channel is named {name!r}")
        for i, name in enumerate(spec.channels)
        if name not in known
    ]
    if errors:
        raise InvalidInput(errors)


async def list_channels(request: Request) -> Response:
    ctx = context_of(request)
    channels = await ctx.store.call(ctx.store.list_channels)
    return json_response(ListDocument([channel_document(c) for c in channels], None))


async def create_channel(request: Request) -> Response:
    ctx = context_of(request)
    spec = parse_channel(await read_json_object(request))
    channel = await ctx.store.call(ctx.store.create_channel, spec, now=ctx.now())
    location = f"{request.url.path.rstrip('/')}/{quote(channel.id, safe='')}"
    return json_response(channel_document(channel), status=201, headers={"Location": location})


async def get_channel(request: Request) -> Response:
    ctx = context_of(request)
    channel = await ctx.store.call(ctx.store.get_channel, request.path_params["channel_id"])
    return json_response(channel_document(channel))


async def update_channel(request: Request) -> Response:
    ctx = context_of(request)
    channel_id = request.path_params["channel_id"]
    existing = await ctx.store.call(ctx.store.get_channel, channel_id)
    spec = parse_channel(await read_json_object(request), base=existing)
    channel = await ctx.store.call(ctx.store.update_channel, channel_id, spec, now=ctx.now())
    return json_response(channel_document(channel))


async def delete_channel(request: Request) -> Response:
    ctx = context_of(request)
    await ctx.store.call(ctx.store.delete_channel, request.path_params["channel_id"])
    return Response(status_code=204)


async def test_channel(request: Request) -> Response:
    """Send the test message through the channel now and answer how it went."""
    ctx = context_of(request)
    channel = await ctx.store.call(ctx.store.get_channel, request.path_params["channel_id"])
    public_url = ctx.public_url or str(request.base_url)
    async with open_notify_context(public_url=public_url, deadline=TEST_DEADLINE) as notify:
        message, error = await send_test(channel, notify, at=ctx.now())
    if error is None:
        return json_response(TestOutcome(delivered=True, dedup_key=message.dedup_key))
    return json_response(
        TestOutcome(
            delivered=False,
            dedup_key=message.dedup_key,
            error=error.message,
            permanent=error.permanent,
        )
    )
