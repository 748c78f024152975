"""A watch on a key or prefix over the gateway's /v3/watch stream, resumed after a broken stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Self, cast

import httpx
import msgspec
import structlog
import trio

from cluster import gateway
from cluster.etcd import (
    RECONNECT_BACKOFF,
    BadRequest,
    Compacted,
    EndpointFailed,
    EtcdClient,
    EtcdError,
    HistoryRewound,
    Unavailable,
    WatchBatch,
    WatchEvent,
    check_reply,
    key_value,
    post_request,
    raise_error,
    transport_failure,
)

log = structlog.get_logger()


class Watch:
    """Event batches in revision order from `start_revision` on, however often the stream breaks.

        listed = await etcd.range("/uptrack/", prefix=True)
        async with etcd.watch("/uptrack/", prefix=True, start_revision=listed.revision + 1) as w:
            async for batch in w:
                ...

    A stream that ends, reports an error, or stays silent for `watch_idle` seconds is
    reopened (on the next endpoint if need be) from `next_revision`, one past the last
    event delivered: no event is lost or repeated. Iteration raises
    - `Compacted` when etcd no longer has `next_revision` (the stream is closed: re-list,
      then watch again from the listed revision + 1), and its subclass `HistoryRewound`
      when etcd reopens the watch at a revision behind one already delivered (its data
      was restored from a snapshot: a watch from `next_revision` would wait for that
      revision to come round again and miss everything until then);
    - `Unavailable` when no endpoint took the watch back within `watch_reconnect`
      seconds (iterating again, or a new watch from `next_revision`, resumes it).
    A cancelled `anext()` drops the stream but not the watch: the next one reopens it.
    """

    def __init__(
        self,
        client: EtcdClient,
        key: str,
        *,
        start_revision: int,
        prefix: bool = False,
        prev_kv: bool = False,
    ) -> None:
        if start_revision < 1:
            raise ValueError(f"start_revision: {start_revision} is not a revision (>= 1)")
        raw = key.encode()
        self._client = client
        self._create = gateway.WatchCreate(
            key=raw,
            range_end=gateway.prefix_end(raw) if prefix else b"",
            progress_notify=True,  # lets a quiet but live stream prove itself
            prev_kv=prev_kv,
        )
        self.next_revision = start_revision
        self.endpoint: str | None = None  # the endpoint streaming now
        self.reconnects = 0  # streams reopened after one broke
        self._response: httpx.Response | None = None
        self._chunks: AsyncGenerator[bytes, None] | None = None
        self._buffer = bytearray()
        self._pending: gateway.WatchReply | None = None
        self._opened = False
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> WatchBatch:
        while not self._closed:
            if self._response is None:
                try:
                    await self._reopen()
                except HistoryRewound:
                    await self.aclose()
                    raise
            reply, self._pending = self._pending, None
            try:
                if reply is None:
                    reply = await self._receive(self._client.watch_idle)
            except EndpointFailed as broken:
                assert self.endpoint is not None
                log.info(
                    "etcd.watch_broken",
                    endpoint=self.endpoint,
                    reason=str(broken),
                    next_revision=self.next_revision,
                )
                self._client.failed(self.endpoint)
                await self._drop()
                continue
            except EtcdError:
                await self.aclose()
                raise
            except BaseException:  # cancelled mid-read: the stream is unusable, the watch is not
                await self._drop()
                raise
            if reply.canceled:
                await self.aclose()
                if reply.compact_revision:
                    raise Compacted(
                        f"revision {self.next_revision} is compacted", reply.compact_revision
                    )
                raise BadRequest(f"etcd cancelled the watch: {reply.cancel_reason or 'no reason'}")
            if reply.events:
                events = tuple(_event(event) for event in reply.events)
                self.next_revision = events[-1].kv.mod_revision + 1
                return WatchBatch(events=events, revision=reply.header.revision)
            # `created` and progress notifications carry no events
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Close the stream; iteration stops."""
        self._closed = True
        await self._drop()

    async def _reopen(self) -> None:
        """Open the stream on the first endpoint that takes it, retrying for `watch_reconnect`."""
        client = self._client
        deadline = trio.current_time() + client.watch_reconnect
        pause = RECONNECT_BACKOFF[0]
        failures: list[str] = []
        while True:
            round_ends = min(trio.current_time() + client.timeout, deadline)
            for endpoint, budget in client.attempts(round_ends):
                try:
                    await self._open(endpoint, budget)
                except EndpointFailed as failure:
                    client.failed(endpoint)
                    failures.append(f"{endpoint}: {failure}")
                    continue
                client.answered(endpoint)
                self.reconnects += self._opened
                self._opened = True
                return
            if trio.current_time() + pause >= deadline:
                raise Unavailable(
                    f"no etcd endpoint took the watch back within {client.watch_reconnect}s "
                    f"(next revision {self.next_revision}): " + "; ".join(failures[-3:])
                )
            await trio.sleep(pause)
            pause = min(pause * 2, RECONNECT_BACKOFF[1])

    async def _open(self, endpoint: str, budget: float) -> None:
        """Start the stream on `endpoint` and read etcd's `created` answer within `budget`."""
        create = msgspec.structs.replace(self._create, start_revision=str(self.next_revision))
        body = gateway.encode(gateway.WatchRequest(create_request=create))
        http = self._client.http
        self.endpoint = endpoint
        try:
            with trio.move_on_after(budget):
                request = post_request(
                    http,
                    f"{endpoint}/v3/watch",
                    body,
                    httpx.Timeout(budget, read=None),  # reads have their own deadline
                )
                try:
                    self._response = await http.send(request, stream=True)
                except httpx.TransportError as exc:
                    raise transport_failure(exc) from None
                if self._response.status_code != 200:
                    check_reply(self._response.status_code, await self._response.aread())
                self._chunks = cast(AsyncGenerator[bytes, None], self._response.aiter_raw())
                reply = await self._receive(budget)
                seen = self.next_revision - 1
                if reply.created and reply.header.revision < seen:
                    raise HistoryRewound(
                        f"etcd at {endpoint} is at revision {reply.header.revision}, behind "
                        f"revision {seen} this watch has seen: its data was replaced "
                        "(restored from a snapshot?)",
                        reply.header.revision,
                    )
                if not reply.created or reply.canceled:
                    self._pending = reply
                return
            raise EndpointFailed(f"the watch was not created within {budget:.2f}s")
        except BaseException:
            await self._drop()
            raise

    async def _receive(self, timeout: float) -> gateway.WatchReply:
        """The next message of the stream; EndpointFailed if none comes within `timeout`."""
        assert self._chunks is not None
        with trio.move_on_after(timeout):
            while (end := self._buffer.find(b"\n")) < 0:
                try:
                    chunk = await anext(self._chunks)
                except StopAsyncIteration:
                    raise EndpointFailed("the stream ended") from None
                except httpx.TransportError as exc:
                    raise transport_failure(exc) from None
                self._buffer += chunk
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            try:
                message = gateway.decode(line, gateway.WatchMessage)
            except msgspec.MsgspecError as exc:
                raise BadRequest(f"unexpected watch message from {self.endpoint}: {exc}") from None
            if message.error is not None:
                raise_error(message.error.grpc_code, message.error.message)
            if message.result is None:
                raise BadRequest(f"watch message from {self.endpoint} without a result")
            return message.result
        raise EndpointFailed(f"no message for {timeout:.2f}s")

    async def _drop(self) -> None:
        """Forget the stream (closing its connection), keeping `next_revision`."""
        response, chunks = self._response, self._chunks
        self._response = self._chunks = None
        self._buffer.clear()
        with trio.move_on_after(self._client.timeout, shield=True):
            if response is not None:
                await response.aclose()
            if chunks is not None:
                # httpx reads through five nested async generators; aclose() would stop
                # only the outermost and leave the others to the garbage collector.
                # Reading on from the closed connection fails through all of them.
                for _ in range(8):
                    try:
                        await anext(chunks)
                    except (StopAsyncIteration, httpx.HTTPError, trio.ClosedResourceError):
                        break
                await chunks.aclose()


def _event(event: gateway.Event) -> WatchEvent:
    return WatchEvent(
        type="delete" if event.type == "DELETE" else "put",
        kv=key_value(event.kv),
        prev_kv=key_value(event.prev_kv) if event.prev_kv is not None else None,
    )
