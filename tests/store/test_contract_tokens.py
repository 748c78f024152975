"""Store contract, API tokens: create, find by hash, list, revoke, touch."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

import pytest
from msgspec.structs import replace

from uptrack.errors import Conflict, NotFound
from uptrack.model import ApiToken, Scope
from uptrack.store.base import Store

if TYPE_CHECKING:
    from tests.store.conftest import StoreKind

T0 = 1_714_564_800.0


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(
    store: Store,
    secret: str,
    *,
    name: str = "ci",
    scope: Scope = "read",
    now: float = T0,
    expires_at: float | None = None,
) -> ApiToken:
    return store.create_token(
        name=name,
        scope=scope,
        secret_sha256=digest(secret),
        prefix=secret[:8],
        now=now,
        expires_at=expires_at,
    )


def test_a_created_token_is_found_by_its_hash_exactly_as_created(store: Store) -> None:
    token = create(store, "upt_s3cr3t", name="déploiement ✓", scope="admin", expires_at=T0 + 0.1)

    assert re.fullmatch(r"[0-9a-f]{32}", token.id)
    assert (token.name, token.scope, token.prefix) == ("déploiement ✓", "admin", "upt_s3cr")
    assert (token.created_at, token.expires_at) == (T0, T0 + 0.1)
    assert (token.revoked_at, token.last_used_at) == (None, None)
    assert store.find_token(digest("upt_s3cr3t")) == token


def test_tokens_survive_reopening_the_database(store_kind: StoreKind, store: Store) -> None:
    token = create(store, "upt_kept")
    store.close()

    reopened = store_kind.open()
    reopened.migrate()

    assert reopened.find_token(digest("upt_kept")) == token


def test_an_unknown_hash_finds_no_token(store: Store) -> None:
    create(store, "upt_one")

    assert store.find_token(digest("upt_two")) is None


def test_a_second_token_with_the_same_hash_is_refused(store: Store) -> None:
    first = create(store, "upt_same", name="first")

    with pytest.raises(Conflict):
        create(store, "upt_same", name="second")

    assert store.list_tokens() == [first]


def test_tokens_are_listed_in_the_order_they_were_created(store: Store) -> None:
    later = create(store, "upt_b", name="later", now=T0 + 10)
    earlier = create(store, "upt_a", name="earlier", now=T0)

    assert store.list_tokens() == [earlier, later]


def test_a_revoked_token_is_still_found_with_its_revocation_time(store: Store) -> None:
    token = create(store, "upt_gone", scope="write")

    revoked = store.revoke_token(token.id, now=T0 + 60)

    assert revoked.revoked_at == T0 + 60
    assert store.find_token(digest("upt_gone")) == revoked
    assert store.list_tokens() == [revoked]


def test_revoking_a_token_twice_keeps_the_first_revocation_time(store: Store) -> None:
    token = create(store, "upt_twice")
    store.revoke_token(token.id, now=T0 + 60)

    again = store.revoke_token(token.id, now=T0 + 120)

    assert again.revoked_at == T0 + 60


def test_revoking_an_unknown_token_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.revoke_token("0" * 32, now=T0)


def test_touching_a_token_records_its_last_use_and_never_moves_it_back(store: Store) -> None:
    token = create(store, "upt_used")

    store.touch_token(token.id, now=T0 + 30)
    assert store.find_token(digest("upt_used")) == replace(token, last_used_at=T0 + 30)

    store.touch_token(token.id, now=T0 + 10)
    found = store.find_token(digest("upt_used"))
    assert found is not None
    assert found.last_used_at == T0 + 30


def test_touching_an_unknown_token_changes_nothing(store: Store) -> None:
    token = create(store, "upt_only")

    store.touch_token("0" * 32, now=T0 + 30)

    assert store.list_tokens() == [token]
