"""The wire format of etcd 3.4's v3 JSON gateway: request and reply structs, nothing else.

What the gateway does that these structs absorb (checked against Debian's etcd 3.4.23):
- keys and values travel base64-encoded (msgspec maps `bytes` to base64 both ways);
- int64 fields (revisions, lease ids, TTLs, counts) travel as JSON strings: requests
  carry them as `str`, replies are decoded with `strict=False`, which turns "42" into 42;
- every field at its protobuf default is omitted from replies: `succeeded` of a failed
  txn, `type` of a PUT event, `kvs`/`count` of an empty range, `value` of an empty
  value, `TTL` of a keepalive on a lost lease — so every reply field has a default;
- streaming endpoints (`/v3/watch`, `/v3/lease/keepalive`) wrap each message in
  `{"result": …}` and report errors in-band as `{"error": {"grpc_code", "message", …}}`,
  while unary endpoints answer errors as `{"error": str, "message": str, "code": int}`.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import msgspec

# google.golang.org/grpc/codes, as far as the client tells them apart
CODE_UNKNOWN = 2
CODE_UNAVAILABLE = 14

# etcd's error strings (api/v3rpc/rpctypes) that mean something more precise than their code
MESSAGE_LEASE_NOT_FOUND = "etcdserver: requested lease not found"
MESSAGE_COMPACTED = "etcdserver: mvcc: required revision has been compacted"


def prefix_end(key: bytes) -> bytes:
    """The `range_end` that makes a range cover every key starting with `key`."""
    end = bytearray(key)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"  # every key


class Request(msgspec.Struct, omit_defaults=True):
    """Base of request bodies: defaults are left out, as the gateway expects nothing more."""


# -- requests ---------------------------------------------------------------------------


class RangeRequest(Request):
    key: bytes
    range_end: bytes = b""
    revision: str = "0"
    limit: str = "0"
    serializable: bool = False
    keys_only: bool = False
    count_only: bool = False


class PutRequest(Request):
    key: bytes
    value: bytes = b""
    lease: str = "0"
    prev_kv: bool = False


class DeleteRangeRequest(Request):
    key: bytes
    range_end: bytes = b""
    prev_kv: bool = False


CompareTarget = Literal["VERSION", "CREATE", "MOD", "VALUE", "LEASE"]
CompareResult = Literal["EQUAL", "GREATER", "LESS", "NOT_EQUAL"]


class CompareRequest(Request):
    key: bytes
    target: CompareTarget
    result: CompareResult
    # exactly one of these is set, the one named by `target`; an int64 is a string
    version: str | None = None
    create_revision: str | None = None
    mod_revision: str | None = None
    value: bytes | None = None
    lease: str | None = None


class OpRequest(Request):
    request_range: RangeRequest | None = None
    request_put: PutRequest | None = None
    request_delete_range: DeleteRangeRequest | None = None


class TxnRequest(Request):
    compare: list[CompareRequest] = []
    success: list[OpRequest] = []
    failure: list[OpRequest] = []


class CompactionRequest(Request):
    revision: str
    physical: bool = False


class LeaseGrantRequest(Request):
    TTL: str


class LeaseIdRequest(Request):
    ID: str


class LeaseTimeToLiveRequest(Request):
    ID: str
    keys: bool = False


class WatchCreate(Request):
    key: bytes
    range_end: bytes = b""
    start_revision: str = "0"
    progress_notify: bool = False
    prev_kv: bool = False


class WatchRequest(Request):
    create_request: WatchCreate


# -- replies ----------------------------------------------------------------------------


class Header(msgspec.Struct):
    revision: int = 0


class KeyValue(msgspec.Struct):
    key: bytes = b""
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0
    value: bytes = b""
    lease: int = 0


class RangeReply(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)
    kvs: list[KeyValue] = []
    more: bool = False
    count: int = 0


class PutReply(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)
    prev_kv: KeyValue | None = None


class DeleteRangeReply(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)
    deleted: int = 0
    prev_kvs: list[KeyValue] = []


class OpReply(msgspec.Struct):
    response_range: RangeReply | None = None
    response_put: PutReply | None = None
    response_delete_range: DeleteRangeReply | None = None


class TxnReply(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)
    succeeded: bool = False
    responses: list[OpReply] = []


class CompactionReply(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)


class LeaseGrantReply(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)
    ID: int = 0
    TTL: int = 0


class LeaseRevokeReply(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)


class LeaseTimeToLiveReply(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)
    ID: int = 0
    TTL: int = 0  # -1 when the lease does not exist (no error is raised)
    grantedTTL: int = 0
    keys: list[bytes] = []


class LeaseKeepAliveReply(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)
    ID: int = 0
    TTL: int = 0  # absent, so 0, when the lease is gone


class StreamError(msgspec.Struct):
    """An error inside a streaming reply."""

    grpc_code: int = CODE_UNKNOWN
    http_code: int = 0
    message: str = ""


class UnaryError(msgspec.Struct):
    """The body of a failed unary call (or, with a `StreamError`, of a failed stream)."""

    error: str | StreamError = ""
    message: str = ""
    code: int = CODE_UNKNOWN

    @property
    def grpc_code(self) -> int:
        return self.error.grpc_code if isinstance(self.error, StreamError) else self.code

    @property
    def text(self) -> str:
        if isinstance(self.error, StreamError):
            return self.error.message
        return self.message or self.error


class KeepAliveMessage(msgspec.Struct):
    result: LeaseKeepAliveReply | None = None
    error: StreamError | None = None


class Event(msgspec.Struct):
    type: Literal["PUT", "DELETE"] = "PUT"
    kv: KeyValue = msgspec.field(default_factory=KeyValue)
    prev_kv: KeyValue | None = None


class WatchReply(msgspec.Struct):
    header: Header = msgspec.field(default_factory=Header)
    watch_id: int = 0
    created: bool = False
    canceled: bool = False
    compact_revision: int = 0
    cancel_reason: str = ""
    events: list[Event] = []


class WatchMessage(msgspec.Struct):
    result: WatchReply | None = None
    error: StreamError | None = None


def encode(request: Request) -> bytes:
    return msgspec.json.encode(request)


T = TypeVar("T")


def decode(data: bytes, reply: type[T]) -> T:
    """Decode a reply; int64 strings become ints. Raises msgspec.ValidationError/DecodeError."""
    return msgspec.json.decode(data, type=reply, strict=False)
