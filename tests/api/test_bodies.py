"""Request bodies over 1 MiB get a 413 problem before anything parses them."""

from __future__ import annotations

import httpx

from api.bodies import MAX_BODY_BYTES

MIB = 1024 * 1024


class Chunks(httpx.AsyncByteStream):
    """A request body without a declared length that counts what was read of it."""

    def __init__(self, chunk: bytes, *, count: int) -> None:
        self.chunk = chunk
        self.left = count
        self.sent = 0

    def __aiter__(self) -> Chunks:
        return self

    async def __anext__(self) -> bytes:
        if self.left == 0:
            raise StopAsyncIteration
        self.left -= 1
        self.sent += len(self.chunk)
        return self.chunk


def test_the_limit_is_one_mebibyte() -> None:
    assert MAX_BODY_BYTES == MIB


async def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(
    client: httpx.AsyncClient, write_auth: dict[str, str]
) -> None:
    body = Chunks(b"{" + b" " * MIB + b"}", count=1)
    request = httpx.Request(
        "POST",
        "http://test/api/v1/monitors",
        headers={**write_auth, "Content-Length": str(MIB + 2)},
        stream=body,
    )
    response = await client.send(request)
    assert response.status_code == 413
    assert body.sent == 0
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 413
    assert problem["title"] == "Content Too Large"
    assert str(MIB) in problem["detail"]


async def test_an_oversized_body_is_refused_even_before_the_token_is_checked(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/v1/monitors", content=b"x" * (MIB + 1))
    assert response.status_code == 413


async def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit(
    client: httpx.AsyncClient, write_auth: dict[str, str]
) -> None:
    body = Chunks(b" " * (64 * 1024), count=64)  # 4 MiB if it were all read
    request = httpx.Request("POST", "http://test/api/v1/monitors", headers=write_auth, stream=body)
    assert "content-length" not in request.headers
    response = await client.send(request)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert body.sent <= MIB + 64 * 1024


async def test_a_body_at_the_limit_is_parsed(
    client: httpx.AsyncClient, write_auth: dict[str, str]
) -> None:
    prefix, suffix = b'{"name": "', b'"}'
    name = b"n" * (MIB - len(prefix) - len(suffix))
    response = await client.post(
        "/api/v1/monitors", headers=write_auth, content=prefix + name + suffix
    )
    assert response.status_code == 422  # parsed and validated: the name is far too long
    fields = {e["field"] for e in response.json()["errors"]}
    assert "name" in fields
