"""Fixtures for the API tests: a real SqliteStore, the app on it, a client and tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api import create_app
from checker.registry import KINDS
from uptrack.clusterview import ClusterView, NodeInfo
from uptrack.health import Readiness
from uptrack.kinds import KindCatalog
from uptrack.metrics import Metrics
from uptrack.model import Scope
from uptrack.store.base import Store
from uptrack.store.sqlite import SqliteStore
from uptrack.tokens import NewToken

T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z


class Clock:
    """The app's `now`, moved by the test."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class StaticNode:
    """A NodeView whose readiness the test sets."""

    def __init__(self, name: str = "node-a", readiness: Readiness | None = None) -> None:
        self.name = name
        self.state = readiness or Readiness(True, {"store": "ok", "coordinator": "ok"})

    def readiness(self) -> Readiness:
        return self.state

    def cluster(self) -> ClusterView:
        return ClusterView(
            mode="single",
            node=self.name,
            degraded=False,
            shard_count=2,
            nodes=[
                NodeInfo(
                    id=self.name,
                    name=self.name,
                    incarnation="",
                    api_url="http://test",
                    version="0",
                    started_at=0.0,
                    shards=2,
                )
            ],
            shards={0: self.name, 1: self.name},
            running=[0, 1],
        )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = SqliteStore(tmp_path / "uptrack.db")
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def kinds() -> KindCatalog:
    return KINDS


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def node() -> StaticNode:
    return StaticNode()


@pytest.fixture
def app(
    store: Store, kinds: KindCatalog, metrics: Metrics, node: StaticNode, clock: Clock
) -> Starlette:
    return create_app(store=store, kinds=kinds, metrics=metrics, node=node, now=clock)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


class Tokens:
    """Issues stored tokens of a scope and the headers that carry them."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def issue(self, scope: Scope, *, expires_at: float | None = None) -> tuple[str, str]:
        """A new stored token: (token id, secret)."""
        new = NewToken()
        token = self.store.create_token(
            name=f"{scope} token {new.prefix}",
            scope=scope,
            secret_sha256=new.sha256,
            prefix=new.prefix,
            now=self.clock(),
            expires_at=expires_at,
        )
        return token.id, new.secret

    def headers(self, scope: Scope) -> dict[str, str]:
        return bearer(self.issue(scope)[1])


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def tokens(store: Store, clock: Clock) -> Tokens:
    return Tokens(store, clock)


@pytest.fixture
def read_auth(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("read")


@pytest.fixture
def write_auth(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("write")


@pytest.fixture
def admin_auth(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("admin")


MonitorBody = Callable[..., dict[str, Any]]


@pytest.fixture
def monitor_body() -> MonitorBody:
    """A valid body for POST /api/v1/monitors, with `fields` added or replaced."""

    def body(name: str = "example", **fields: Any) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "http",
            "target": "https://example.com/health",
            "interval": 60,
            **fields,
        }

    return body


CreateMonitor = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def create_monitor(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: MonitorBody
) -> CreateMonitor:
    """POST a monitor through the API and return its document."""

    async def create(name: str = "example", **fields: Any) -> dict[str, Any]:
        response = await client.post(
            "/api/v1/monitors", json=monitor_body(name, **fields), headers=write_auth
        )
        assert response.status_code == 201, response.text
        document: dict[str, Any] = response.json()
        return document

    return create
