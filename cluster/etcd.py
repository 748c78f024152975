"""A trio-native etcd v3 client over the JSON gateway (httpx): KV, txn, leases, compaction, watch.

Every call has a deadline (`timeout`, 2 s by default) shared by the endpoints it tries:
an endpoint that refuses the connection, does not answer in its share of the time, or
answers gRPC `Unavailable` is skipped for the next one. A write (put, delete, txn,
grant, compact) moves on only while the request cannot have reached etcd (the
connection failed); once sent, silence raises `OutcomeUnknown`, as a retry elsewhere
could apply it twice or make a create-if-absent fail against itself.

Exceptions:

    EtcdError
    ├── Unavailable          no endpoint answered within the deadline
    │   └── OutcomeUnknown   a write was sent, no answer came: it may or may not have applied
    ├── Compacted            the revision asked for is compacted away (.compact_revision)
    ├── LeaseNotFound        the lease expired or was revoked (keepalive answers 0 instead)
    └── BadRequest           etcd refused the request as given (.code: the gRPC code)
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, NoReturn, Self, TypeVar

import httpx
import msgspec
import structlog
import trio

from cluster import gateway

if TYPE_CHECKING:
    from cluster.watch import Watch

log = structlog.get_logger()

R = TypeVar("R")
DEFAULT_TIMEOUT = 2.0
# Longer than the progress notifications etcd sends on a quiet watch when started with
# --experimental-watch-progress-notify-interval below it (etcd's default is 10 min):
# a watch that hears nothing for this long reconnects, from the revision it had reached.
DEFAULT_WATCH_IDLE = 30.0
DEFAULT_WATCH_RECONNECT = 10.0
RECONNECT_BACKOFF = (0.05, 1.0)  # first and longest pause between rounds of endpoints
HEADERS = {"content-type": "application/json", "accept": "application/json"}


class EtcdError(Exception):
    """Base of every error this client raises."""


class Unavailable(EtcdError):
    """No endpoint answered within the deadline (or every one said it cannot serve)."""


class OutcomeUnknown(Unavailable):
    """A write reached an endpoint whose answer never came: it may or may not have applied."""


class Compacted(EtcdError):
    """The revision asked for was compacted away: re-list, then watch from the new revision."""

    def __init__(self, message: str, compact_revision: int | None = None) -> None:
        super().__init__(message)
        # the oldest revision still available; etcd names it on watches only
        self.compact_revision = compact_revision


class HistoryRewound(Compacted):
    """etcd's revision is behind one this client has seen: its history was replaced
    (restored from a snapshot, or a new cluster at the same address). What was watched
    is gone as surely as after a compaction: re-list, then watch from the new revision."""

    def __init__(self, message: str, revision: int) -> None:
        super().__init__(message, revision)
        self.revision = revision  # etcd's revision now


class LeaseNotFound(EtcdError):
    """The lease does not exist (any more): it expired or was revoked."""


class BadRequest(EtcdError):
    """etcd refused the request as given, or the endpoint is not an etcd v3 gateway."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code  # the gRPC status code, None when the answer was not etcd's JSON


# -- what callers see -------------------------------------------------------------------


class KeyValue(msgspec.Struct, frozen=True):
    key: str
    value: bytes
    create_revision: int  # 0 for a deleted key (in a DELETE event)
    mod_revision: int
    version: int
    lease: int = 0  # 0: not attached to a lease


class RangeResult(msgspec.Struct, frozen=True):
    kvs: tuple[KeyValue, ...]
    revision: int  # the store's revision the result is a snapshot of
    count: int
    more: bool = False


class PutResult(msgspec.Struct, frozen=True):
    revision: int  # the key's new mod_revision
    prev_kv: KeyValue | None = None


class DeleteResult(msgspec.Struct, frozen=True):
    deleted: int
    revision: int
    prev_kvs: tuple[KeyValue, ...] = ()


class TxnResult(msgspec.Struct, frozen=True):
    succeeded: bool
    responses: tuple[RangeResult | PutResult | DeleteResult, ...]
    revision: int


class Lease(msgspec.Struct, frozen=True):
    id: int
    ttl: int  # what etcd granted: at least its minimum (2 s with default timing)


class LeaseStatus(msgspec.Struct, frozen=True):
    id: int
    ttl: int  # seconds left
    granted_ttl: int
    keys: tuple[str, ...] = ()


class WatchEvent(msgspec.Struct, frozen=True):
    type: Literal["put", "delete"]
    kv: KeyValue
    prev_kv: KeyValue | None = None


class WatchBatch(msgspec.Struct, frozen=True):
    events: tuple[WatchEvent, ...]  # never empty, in revision order
    revision: int  # the store's revision when etcd sent the batch


Operator = Literal["==", "!=", "<", ">"]
_RESULTS: dict[Operator, gateway.CompareResult] = {
    "==": "EQUAL",
    "!=": "NOT_EQUAL",
    "<": "LESS",
    ">": "GREATER",
}


class Compare(msgspec.Struct, frozen=True):
    """One condition of a txn; build it with the class methods."""

    key: str
    target: gateway.CompareTarget
    op: Operator
    operand: int | bytes

    @classmethod
    def value(cls, key: str, op: Operator, value: bytes | str) -> Compare:
        return cls(key, "VALUE", op, _bytes(value))

    @classmethod
    def create_revision(cls, key: str, op: Operator, revision: int) -> Compare:
        return cls(key, "CREATE", op, revision)

    @classmethod
    def mod_revision(cls, key: str, op: Operator, revision: int) -> Compare:
        return cls(key, "MOD", op, revision)

    @classmethod
    def version(cls, key: str, op: Operator, version: int) -> Compare:
        return cls(key, "VERSION", op, version)

    @classmethod
    def lease(cls, key: str, op: Operator, lease_id: int) -> Compare:
        return cls(key, "LEASE", op, lease_id)

    @classmethod
    def absent(cls, key: str) -> Compare:
        """The key does not exist (its create_revision is 0): create-if-absent."""
        return cls.create_revision(key, "==", 0)


class Get(msgspec.Struct, frozen=True):
    """A txn operation: range over a key (or a prefix)."""

    key: str
    prefix: bool = False


class Put(msgspec.Struct, frozen=True):
    """A txn operation: write a key, attached to a lease or not."""

    key: str
    value: bytes | str
    lease: int | None = None


class Delete(msgspec.Struct, frozen=True):
    """A txn operation: delete a key (or a prefix)."""

    key: str
    prefix: bool = False


Op = Get | Put | Delete


# -- the client -------------------------------------------------------------------------


def tls_context(
    ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext:
    """How to reach etcd over https: trust `ca_file` (else the system's CAs) and, for
    etcd's `--client-cert-auth`, show `cert_file` with `key_file`.

    ValueError names the file that is missing or not PEM of the expected kind."""
    if (cert_file is None) != (key_file is None):
        raise ValueError("a client certificate needs both its certificate and its key file")
    for path in (ca_file, cert_file, key_file):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"{path}: no such file")
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"{ca_file}: not a PEM CA certificate ({exc})") from None
    if cert_file is not None and key_file is not None:
        try:
            context.load_cert_chain(cert_file, key_file)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(
                f"{cert_file} with {key_file}: not a PEM certificate and its key ({exc})"
            ) from None
    return context


class EtcdClient:
    """One connection pool to an etcd cluster's gateways, used from trio.

    `async with EtcdClient(["http://10.0.0.1:2379", ...]) as etcd:` — the pool closes
    with the block. Safe for concurrent use by many tasks. For https endpoints, `tls`
    (from `tls_context`) says which CA to trust and which client certificate to show.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        watch_idle: float = DEFAULT_WATCH_IDLE,
        watch_reconnect: float = DEFAULT_WATCH_RECONNECT,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("endpoints: at least one etcd URL is needed")
        for url in endpoints:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"endpoints: {url!r} is not an http:// or https:// URL")
        self.endpoints = tuple(url.rstrip("/") for url in endpoints)
        self.timeout = timeout
        self.watch_idle = watch_idle
        self.watch_reconnect = watch_reconnect
        self._preferred = 0  # the endpoint that answered last
        # one pool, watches stream over it too; etcd is never reached through a proxy
        self.http = httpx.AsyncClient(
            headers=HEADERS, trust_env=False, verify=tls if tls is not None else True
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        with trio.move_on_after(self.timeout, shield=True):
            await self.http.aclose()

    # -- KV

    async def get(self, key: str) -> KeyValue | None:
        result = await self.range(key)
        return result.kvs[0] if result.kvs else None

    async def range(
        self,
        key: str,
        *,
        prefix: bool = False,
        revision: int = 0,
        limit: int = 0,
        serializable: bool = False,
        keys_only: bool = False,
    ) -> RangeResult:
        """The key (or every key under the prefix), at `revision` (0: now)."""
        request = _range_request(key, prefix)
        request.revision, request.limit = str(revision), str(limit)
        request.serializable, request.keys_only = serializable, keys_only
        reply = await self._call("/kv/range", request, gateway.RangeReply, idempotent=True)
        return _range_result(reply)

    async def put(
        self, key: str, value: bytes | str, *, lease: int | None = None, prev_kv: bool = False
    ) -> PutResult:
        """Raises LeaseNotFound when `lease` is gone."""
        request = _put_request(Put(key, value, lease))
        request.prev_kv = prev_kv
        reply = await self._call("/kv/put", request, gateway.PutReply, idempotent=False)
        return _put_result(reply)

    async def delete(
        self, key: str, *, prefix: bool = False, prev_kv: bool = False
    ) -> DeleteResult:
        request = gateway.DeleteRangeRequest(
            key=_bytes(key), range_end=gateway.prefix_end(_bytes(key)) if prefix else b""
        )
        request.prev_kv = prev_kv
        reply = await self._call(
            "/kv/deleterange", request, gateway.DeleteRangeReply, idempotent=False
        )
        return _delete_result(reply)

    async def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Op] = (),
        failure: Sequence[Op] = (),
    ) -> TxnResult:
        """If every comparison holds, run `success`, else `failure`, atomically."""
        request = gateway.TxnRequest(
            compare=[_compare_request(c) for c in compare],
            success=[_op_request(op) for op in success],
            failure=[_op_request(op) for op in failure],
        )
        reply = await self._call("/kv/txn", request, gateway.TxnReply, idempotent=False)
        return TxnResult(
            succeeded=reply.succeeded,
            responses=tuple(_op_result(r) for r in reply.responses),
            revision=reply.header.revision,
        )

    async def compact(self, revision: int, *, physical: bool = False) -> None:
        """Forget every revision before `revision`; Compacted if that happened already."""
        request = gateway.CompactionRequest(revision=str(revision), physical=physical)
        await self._call("/kv/compaction", request, gateway.CompactionReply, idempotent=False)

    # -- leases

    async def grant(self, ttl: int) -> Lease:
        """A new lease; etcd may raise the TTL (to its minimum), so use the one returned."""
        request = gateway.LeaseGrantRequest(TTL=str(ttl))
        reply = await self._call("/lease/grant", request, gateway.LeaseGrantReply, idempotent=False)
        return Lease(id=reply.ID, ttl=reply.TTL)

    async def keepalive(self, lease_id: int) -> int:
        """Renew the lease; its TTL again, or 0 when the lease is gone.

        The lease runs from before the call, not from its return: measure the
        deadline from the time the call started.
        """
        request = gateway.LeaseIdRequest(ID=str(lease_id))
        message = await self._call(
            "/lease/keepalive", request, gateway.KeepAliveMessage, idempotent=True
        )
        return message.result.TTL if message.result is not None else 0

    async def revoke(self, lease_id: int) -> None:
        """Revoke the lease, deleting its keys; LeaseNotFound if it is already gone
        (expired, or revoked by an attempt of this very call whose answer was lost)."""
        request = gateway.LeaseIdRequest(ID=str(lease_id))
        await self._call("/lease/revoke", request, gateway.LeaseRevokeReply, idempotent=True)

    async def time_to_live(self, lease_id: int, *, keys: bool = False) -> LeaseStatus:
        """The lease's remaining TTL (and its keys); LeaseNotFound if it is gone."""
        request = gateway.LeaseTimeToLiveRequest(ID=str(lease_id), keys=keys)
        reply = await self._call(
            "/lease/timetolive", request, gateway.LeaseTimeToLiveReply, idempotent=True
        )
        if reply.TTL < 0:  # etcd answers -1, not an error, for a lease it does not know
            raise LeaseNotFound(f"lease {lease_id:x} not found")
        return LeaseStatus(
            id=reply.ID,
            ttl=reply.TTL,
            granted_ttl=reply.grantedTTL,
            keys=tuple(_text(k) for k in reply.keys),
        )

    # -- watch

    def watch(
        self, key: str, *, start_revision: int, prefix: bool = False, prev_kv: bool = False
    ) -> Watch:
        """Events on the key (or prefix) from `start_revision` on; see `cluster.watch.Watch`."""
        from cluster.watch import Watch  # cluster.watch builds on this module

        return Watch(self, key, start_revision=start_revision, prefix=prefix, prev_kv=prev_kv)

    # -- transport

    async def _call(
        self, path: str, request: gateway.Request, reply: type[R], *, idempotent: bool
    ) -> R:
        body = gateway.encode(request)
        deadline = trio.current_time() + self.timeout
        failures: list[str] = []
        for endpoint, budget in self.attempts(deadline):
            try:
                data = await self._post(endpoint, path, body, budget)
            except EndpointFailed as failure:
                log.info("etcd.endpoint_failed", endpoint=endpoint, path=path, reason=str(failure))
                self.failed(endpoint)
                if failure.sent and not idempotent:
                    raise OutcomeUnknown(f"{path} sent to {endpoint}: {failure}") from None
                failures.append(f"{endpoint}: {failure}")
                continue
            self.answered(endpoint)
            try:
                return gateway.decode(data, reply)
            except msgspec.MsgspecError as exc:
                raise BadRequest(f"{endpoint}{path}: unexpected answer: {exc}") from None
        raise Unavailable(
            f"no etcd endpoint answered {path} within {self.timeout}s: "
            + ("; ".join(failures) or "no time left")
        )

    def attempts(self, deadline: float) -> Iterator[tuple[str, float]]:
        """Endpoints to try, the last one that answered first, each with its share of time."""
        count = len(self.endpoints)
        first = self._preferred
        for tried in range(count):
            left = deadline - trio.current_time()
            if left <= 0:
                return
            yield self.endpoints[(first + tried) % count], left / (count - tried)

    def answered(self, endpoint: str) -> None:
        self._preferred = self.endpoints.index(endpoint)

    def failed(self, endpoint: str) -> None:
        index = self.endpoints.index(endpoint)
        if self._preferred == index:
            self._preferred = (index + 1) % len(self.endpoints)

    async def _post(self, endpoint: str, path: str, body: bytes, budget: float) -> bytes:
        """One attempt on one endpoint: the body of etcd's success reply, else raises."""
        with trio.move_on_after(budget):
            try:
                request = post_request(
                    self.http, f"{endpoint}/v3{path}", body, httpx.Timeout(budget)
                )
                response = await self.http.send(request)
            except httpx.TransportError as exc:
                raise transport_failure(exc) from None
            return check_reply(response.status_code, response.content)
        raise EndpointFailed(f"no answer within {budget:.2f}s")


def post_request(
    http: httpx.AsyncClient, url: str, body: bytes, timeout: httpx.Timeout
) -> httpx.Request:
    """A POST of `body` whose body stream is no async generator.

    httpx sends `content=bytes` through one, and httpcore leaves it suspended when the
    write fails or is cancelled (etcd going away mid-request, a deadline): the garbage
    collector then finalizes it outside the trio run, with a warning. `_Body` has
    nothing to finalize."""
    request = http.build_request("POST", url, content=body, timeout=timeout)
    request.stream = _Body(body)
    return request


class _Body(httpx.AsyncByteStream):
    def __init__(self, data: bytes) -> None:
        self._data = data

    def __aiter__(self) -> _Once:
        return _Once(self._data)


class _Once:
    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def __aiter__(self) -> _Once:
        return self

    async def __anext__(self) -> bytes:
        data, self._data = self._data, None
        if data is None:
            raise StopAsyncIteration
        return data


class EndpointFailed(Exception):
    """One endpoint failed one attempt; the caller moves on to the next (not an EtcdError).

    `sent` tells whether the request may have reached etcd: False when connecting failed.
    """

    def __init__(self, reason: str, *, sent: bool = True) -> None:
        super().__init__(reason)
        self.sent = sent


def check_reply(status: int, data: bytes) -> bytes:
    """`data` if it is a success reply; raises the translated error or `EndpointFailed`."""
    if status == 200 and not data.startswith(b'{"error"'):
        return data
    try:
        error = gateway.decode(data, gateway.UnaryError)
    except msgspec.MsgspecError:
        if status >= 500:
            raise EndpointFailed(f"HTTP {status}") from None
        text = data[:200].decode(errors="replace").strip()
        raise BadRequest(f"HTTP {status} is not an etcd v3 gateway answer: {text}") from None
    raise_error(error.grpc_code, error.text)


def raise_error(code: int, text: str) -> NoReturn:
    """Translate a gateway error (gRPC code and etcd's message) into the tree above."""
    if code == gateway.CODE_UNAVAILABLE:
        raise EndpointFailed(text)
    if text == gateway.MESSAGE_LEASE_NOT_FOUND:
        raise LeaseNotFound(text)
    if text == gateway.MESSAGE_COMPACTED:
        raise Compacted(text)
    raise BadRequest(text, code)


def transport_failure(exc: httpx.TransportError) -> EndpointFailed:
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    not_sent = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
    return EndpointFailed(reason, sent=not isinstance(exc, not_sent))


# -- conversions ------------------------------------------------------------------------


def _bytes(data: bytes | str) -> bytes:
    return data if isinstance(data, bytes) else data.encode()


def _text(data: bytes) -> str:
    return data.decode()


def key_value(kv: gateway.KeyValue) -> KeyValue:
    return KeyValue(
        key=_text(kv.key),
        value=kv.value,
        create_revision=kv.create_revision,
        mod_revision=kv.mod_revision,
        version=kv.version,
        lease=kv.lease,
    )


def _range_request(key: str, prefix: bool) -> gateway.RangeRequest:
    raw = _bytes(key)
    return gateway.RangeRequest(key=raw, range_end=gateway.prefix_end(raw) if prefix else b"")


def _compare_request(compare: Compare) -> gateway.CompareRequest:
    request = gateway.CompareRequest(
        key=_bytes(compare.key), target=compare.target, result=_RESULTS[compare.op]
    )
    operand = compare.operand
    if compare.target == "VALUE":
        request.value = operand if isinstance(operand, bytes) else str(operand).encode()
    elif compare.target == "CREATE":
        request.create_revision = str(operand)
    elif compare.target == "MOD":
        request.mod_revision = str(operand)
    elif compare.target == "VERSION":
        request.version = str(operand)
    else:
        request.lease = str(operand)
    return request


def _put_request(put: Put) -> gateway.PutRequest:
    lease = str(put.lease) if put.lease else "0"
    return gateway.PutRequest(key=_bytes(put.key), value=_bytes(put.value), lease=lease)


def _op_request(op: Op) -> gateway.OpRequest:
    if isinstance(op, Get):
        return gateway.OpRequest(request_range=_range_request(op.key, op.prefix))
    if isinstance(op, Put):
        return gateway.OpRequest(request_put=_put_request(op))
    raw = _bytes(op.key)
    end = gateway.prefix_end(raw) if op.prefix else b""
    return gateway.OpRequest(
        request_delete_range=gateway.DeleteRangeRequest(key=raw, range_end=end)
    )


def _range_result(reply: gateway.RangeReply) -> RangeResult:
    return RangeResult(
        kvs=tuple(key_value(kv) for kv in reply.kvs),
        revision=reply.header.revision,
        count=reply.count,
        more=reply.more,
    )


def _put_result(reply: gateway.PutReply) -> PutResult:
    prev = key_value(reply.prev_kv) if reply.prev_kv is not None else None
    return PutResult(revision=reply.header.revision, prev_kv=prev)


def _delete_result(reply: gateway.DeleteRangeReply) -> DeleteResult:
    return DeleteResult(
        deleted=reply.deleted,
        revision=reply.header.revision,
        prev_kvs=tuple(key_value(kv) for kv in reply.prev_kvs),
    )


def _op_result(reply: gateway.OpReply) -> RangeResult | PutResult | DeleteResult:
    if reply.response_range is not None:
        return _range_result(reply.response_range)
    if reply.response_put is not None:
        return _put_result(reply.response_put)
    return _delete_result(reply.response_delete_range or gateway.DeleteRangeReply())
