"""Bearer-token authentication and scopes: who is calling, and may they do this."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from api.context import ApiContext, context_of
from api.problems import ApiError
from uptrack.model import ApiToken, Scope
from uptrack.tokens import PREFIX, hash_secret, scope_allows

TOUCH_EVERY = 60.0  # seconds between two recorded uses of the same token
REALM = 'Bearer realm="uptrack"'

Handler = Callable[[Request], Awaitable[Response]]


def _unauthorized(detail: str, *, invalid: bool) -> ApiError:
    challenge = REALM + (', error="invalid_token"' if invalid else "")
    return ApiError(401, "unauthorized", detail, headers={"WWW-Authenticate": challenge})


def bearer_secret(request: Request) -> str:
    """The token from `Authorization: Bearer <token>`; 401 if missing or malformed."""
    header = request.headers.get("authorization")
    if header is None:
        raise _unauthorized(
            "this endpoint needs an API token: send Authorization: Bearer <token>",
            invalid=False,
        )
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise _unauthorized("the Authorization header must be Bearer <token>", invalid=True)
    if not secret.startswith(PREFIX) or not secret.isascii() or any(c.isspace() for c in secret):
        raise _unauthorized(f"the token is malformed (tokens start with {PREFIX})", invalid=True)
    return secret


async def authenticate(request: Request, needed: Scope) -> ApiToken:
    """The caller's token if it is valid and allows `needed`; else 401 or 403."""
    ctx = context_of(request)
    secret = bearer_secret(request)
    digest = hash_secret(secret)
    token = await ctx.store.call(ctx.store.find_token, digest)
    # The lookup matched the hash; this constant-time check of the visible prefix
    # guards against a store that ever matched loosely (e.g. by prefix or collation).
    if token is None or not hmac.compare_digest(
        token.prefix.encode(), secret[: len(token.prefix)].encode()
    ):
        raise _unauthorized("the token is not known", invalid=True)
    now = ctx.now()
    if token.revoked_at is not None:
        raise _unauthorized("the token was revoked", invalid=True)
    if token.expires_at is not None and token.expires_at <= now:
        raise _unauthorized("the token has expired", invalid=True)
    if not scope_allows(token.scope, needed):
        raise ApiError(
            403,
            "forbidden",
            f"this needs a token with the {needed} scope; this token has {token.scope}",
            headers={"WWW-Authenticate": REALM + f', error="insufficient_scope", scope="{needed}"'},
        )
    await _record_use(ctx, token, now)
    return token


async def _record_use(ctx: ApiContext, token: ApiToken, now: float) -> None:
    last = ctx.token_touched_at.get(token.id)
    if last is not None and now - last < TOUCH_EVERY:
        return
    ctx.token_touched_at[token.id] = now
    await ctx.store.call(ctx.store.touch_token, token.id, now=now)


def protected(needed: Scope, endpoint: Handler) -> Handler:
    """`endpoint`, answering only callers whose token allows `needed`."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        request.state.token = await authenticate(request, needed)
        return await endpoint(request)

    return guarded
