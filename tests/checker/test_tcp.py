"""The tcp kind against real loopback listeners."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest
import trio

from checker.context import ProbeContext
from checker.kinds.tcp import KIND, TcpSettings, decode_escapes
from tests.servers import HttpServer, Listening, serve_tcp
from tests.servers.banner import serve_banner
from tests.servers.netns import IsolatedNetwork
from uptrack.model import Observation

# Linux refuses a TCP connect to a multicast address at once (ENETUNREACH).
UNROUTABLE = "224.0.0.1"


async def probe(target: str, ctx: ProbeContext, within: float = 2.0) -> Observation:
    return await KIND.check(KIND.parse_target(target), TcpSettings(), within, ctx)


async def test_it_reports_up_when_the_port_accepts_a_connection(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(f"127.0.0.1:{http_server.port}", probe_ctx)

    assert seen.ok
    assert seen.error_kind is None
    assert seen.ip == "127.0.0.1"
    assert seen.timings.connect is not None
    assert seen.timings.total is not None
    assert seen.timings.dns is None  # an IP literal is not resolved


async def test_it_resolves_a_host_name_and_times_the_lookup(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(f"localhost:{http_server.port}", probe_ctx)

    assert seen.ok
    assert seen.ip == "127.0.0.1"
    assert seen.timings.dns is not None


async def test_it_reports_refused_when_nothing_listens(
    refused_port: int, probe_ctx: ProbeContext
) -> None:
    seen = await probe(f"127.0.0.1:{refused_port}", probe_ctx)

    assert not seen.ok
    assert seen.error_kind == "refused"
    assert seen.error == f"connection refused by 127.0.0.1:{refused_port}"


async def test_it_reports_dns_when_the_name_does_not_resolve(isolated: IsolatedNetwork) -> None:
    # In the namespace the system resolver has no route: the query never leaves it.
    seen = await isolated.probe("tcp", "nothing.invalid:80", 2.0)

    assert seen.error_kind == "dns"
    assert seen.error is not None
    assert seen.error.startswith("cannot resolve nothing.invalid")
    assert seen.timings.total is not None
    assert seen.timings.total < 2000


async def test_it_reports_network_when_the_address_cannot_be_reached(
    probe_ctx: ProbeContext,
) -> None:
    seen = await probe(f"{UNROUTABLE}:80", probe_ctx)

    assert seen.error_kind == "network"
    assert seen.error is not None
    assert f"cannot connect to {UNROUTABLE}:80" in seen.error


async def test_it_times_out_within_the_deadline_when_the_connect_stalls(
    stalled_port: int, probe_ctx: ProbeContext
) -> None:
    start = trio.current_time()
    with trio.fail_after(1.5):  # a probe that ignores its deadline fails the test, not hangs it
        seen = await probe(f"127.0.0.1:{stalled_port}", probe_ctx, within=0.5)
    elapsed = trio.current_time() - start

    assert seen.error_kind == "timeout"
    assert seen.error == f"timed out after 0.5 s while connecting to 127.0.0.1:{stalled_port}"
    assert 0.5 <= elapsed < 0.9
    assert seen.timings.total is not None
    assert seen.timings.total >= 500


@pytest.mark.parametrize(
    ("target", "normalised"),
    [
        ("Example.COM:80", "example.com:80"),
        ("  127.0.0.1:5432 ", "127.0.0.1:5432"),
        ("[::1]:8080", "[::1]:8080"),
        ("[0:0::1]:1", "[::1]:1"),
        ("bücher.example:443", "xn--bcher-kva.example:443"),
    ],
)
def test_it_normalises_the_target(target: str, normalised: str) -> None:
    assert KIND.parse_target(target) == normalised


@pytest.mark.parametrize(
    ("target", "complaint"),
    [
        ("example.com", "expected host:port"),
        (":80", "expected host:port"),
        ("example.com:0", "port '0' is not a number from 1 to 65535"),
        ("example.com:65536", "port '65536' is not a number from 1 to 65535"),
        ("example.com:http", "port 'http' is not a number"),
        ("::1:80", "write an IPv6 address in brackets"),
        ("[::1]80", "expected [IPv6 address]:port"),
        ("[example.com]:80", "is not an IPv6 address"),
        ("tcp://example.com:80", "without a scheme"),
        ("exa mple.com:80", "is not a valid host name"),
    ],
)
def test_it_refuses_a_target_saying_what_is_accepted(target: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        KIND.parse_target(target)


def test_its_default_settings_are_valid_and_unknown_ones_refused() -> None:
    assert KIND.check_settings(msgspec.convert({}, TcpSettings), timeout=5.0) == []
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"port": 80}, TcpSettings)


# --- banners: send and expect --------------------------------------------------------


async def banner_probe(
    target: Listening, ctx: ProbeContext, within: float = 2.0, **settings: Any
) -> Observation:
    decoded = msgspec.convert(settings, TcpSettings)
    assert KIND.check_settings(decoded, timeout=within) == []
    with trio.fail_after(within + 1.0):
        return await KIND.check(f"127.0.0.1:{target.port}", decoded, within, ctx)


async def test_it_passes_when_the_banner_holds_the_expected_text(probe_ctx: ProbeContext) -> None:
    async with serve_banner(b"SSH-2.0-OpenSSH_9.6\r\n") as server:
        seen = await banner_probe(server, probe_ctx, expect="SSH-2.0-")

    assert seen.ok, seen.error
    assert seen.details == {"response": "SSH-2.0-OpenSSH_9.6\\r\\n"}
    assert seen.timings.ttfb is not None


async def test_it_sends_the_request_with_escapes_decoded_and_expects_the_answer(
    probe_ctx: ProbeContext,
) -> None:
    async with serve_banner(answers={b"PING\r\n": b"+PONG\r\n"}) as server:
        seen = await banner_probe(server, probe_ctx, send="PING\\r\\n", expect="+PONG\\r\\n")

    assert seen.ok, seen.error


async def test_it_reports_keyword_when_the_answer_lacks_the_expected_text(
    probe_ctx: ProbeContext,
) -> None:
    async with serve_banner(b"220 mail.example ESMTP\r\n", linger=False) as server:
        seen = await banner_probe(server, probe_ctx, expect="SSH-2.0")

    assert seen.error_kind == "keyword"
    assert seen.error == (
        "expected 'SSH-2.0' not found before the server closed the connection: "
        "'220 mail.example ESMTP\\\\r\\\\n'"
    )


async def test_it_reads_no_more_than_max_read_bytes_from_an_endless_sender(
    probe_ctx: ProbeContext,
) -> None:
    async def endless(stream: trio.abc.Stream) -> None:
        while True:
            await stream.send_all(b"x" * 65536)

    async with serve_tcp(endless) as server:
        seen = await banner_probe(server, probe_ctx, expect="never", max_read_bytes=1000)

    assert seen.error_kind == "keyword"
    assert seen.error is not None
    assert seen.error.startswith("expected 'never' not found in 1000 bytes: 'xxx")


async def test_it_times_out_when_the_expected_answer_never_comes(
    probe_ctx: ProbeContext,
) -> None:
    async with serve_banner(b"hello ") as server:
        seen = await banner_probe(server, probe_ctx, within=0.3, expect="world")

    assert seen.error == "timed out after 0.3 s while reading the response"


async def test_it_evaluates_assertions_on_the_first_burst_of_the_response(
    probe_ctx: ProbeContext,
) -> None:
    async with serve_banner(b"SSH-1.99-old\r\n") as server:
        seen = await banner_probe(
            server,
            probe_ctx,
            assertions=['response matches "^SSH-2\\\\.0"', "response_time < 5000"],
        )

    assert seen.error_kind == "assertion"
    assert seen.error == (
        'assertion response matches "^SSH-2\\\\.0" failed: observed "SSH-1.99-old\\r\\n"'
    )
    assert seen.details is not None
    assert [a["ok"] for a in seen.details["assertions"]] == [False, True]


@pytest.mark.parametrize(
    ("settings", "field", "complaint"),
    [
        ({"send": ""}, "send", "must not be empty"),
        ({"send": "a\\qb"}, "send", "unknown escape '\\\\q' at position 2"),
        ({"expect": "\\x4"}, "expect", "unknown escape"),
        ({"max_read_bytes": 0}, "max_read_bytes", "0 is not within 1-1048576"),
        ({"assertions": ["status == 200"]}, "assertions[0]", "unknown fact 'status'"),
    ],
)
def test_it_names_the_field_of_bad_banner_settings(
    settings: dict[str, Any], field: str, complaint: str
) -> None:
    [(name, message)] = KIND.check_settings(msgspec.convert(settings, TcpSettings), timeout=5)

    assert name == field
    assert complaint in message


def test_escapes_decode_to_bytes() -> None:
    assert decode_escapes("a\\r\\n\\t\\0\\\\\\x7fé") == b"a\r\n\t\0\\\x7f\xc3\xa9"
