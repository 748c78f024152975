"""What every endpoint reaches through the app: the store, kinds, metrics, node, clock."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request

from api.ratelimit import TokenBuckets
from uptrack.health import NodeView
from uptrack.kinds import KindCatalog
from uptrack.metrics import Metrics
from uptrack.store.base import Store

PING_RATE = 2.0  # pings a second per ping token, after a burst of
PING_BURST = 10


class ApiContext:
    """The dependencies of one app, kept on `app.state` (never in module globals)."""

    def __init__(
        self,
        *,
        store: Store,
        kinds: KindCatalog,
        metrics: Metrics,
        node: NodeView,
        now: Callable[[], float],
        openapi: bytes,
        public_url: str = "",
    ) -> None:
        self.store = store
        self.kinds = kinds
        self.metrics = metrics
        self.node = node
        self.now = now
        self.openapi = openapi  # the encoded OpenAPI document, built once per app
        # where alert messages link to (empty: the URL a request reached the API at)
        self.public_url = public_url
        # token id -> when this app last recorded a use of it (throttles touch_token)
        self.token_touched_at: dict[str, float] = {}
        # heartbeat pings per ping token (by its SHA-256), on this node (api/pings.py)
        self.ping_limits = TokenBuckets(rate=PING_RATE, burst=PING_BURST)


def context_of(request: Request) -> ApiContext:
    ctx = request.app.state.uptrack
    if not isinstance(ctx, ApiContext):
        raise TypeError("the app was not built by api.create_app")
    return ctx
