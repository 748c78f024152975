"""The dns kind against a DNS server written for the tests, on a loopback port."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from checker.context import ProbeContext
from checker.kinds.dns import KIND, DnsSettings
from tests.servers.dns import DnsMode, DnsServer, Zone, serve_dns
from tests.servers.listeners import closed_port
from uptrack.model import Observation

ZONE: Zone = {
    ("www.uptrack.test", "A"): ["192.0.2.10", "192.0.2.11"],
    ("www.uptrack.test", "AAAA"): ["2001:db8::10"],
    ("uptrack.test", "MX"): ["10 mail.uptrack.test.", "20 Backup.Uptrack.test."],
    ("uptrack.test", "TXT"): ['"v=spf1 " "-all"'],
    ("uptrack.test", "NS"): ["ns1.uptrack.test."],
    ("uptrack.test", "SOA"): ["ns1.uptrack.test. hostmaster.uptrack.test. 7 3600 600 86400 300"],
    ("alias.uptrack.test", "CNAME"): ["www.uptrack.test."],
}


@pytest.fixture
async def dns_server() -> AsyncIterator[DnsServer]:
    async with serve_dns(ZONE) as server:
        yield server


async def probe(
    name: str, server: str, ctx: ProbeContext, within: float = 2.0, **settings: Any
) -> Observation:
    decoded = msgspec.convert({"server": server, **settings}, DnsSettings)
    assert KIND.check_settings(decoded, timeout=within) == []
    with trio.fail_after(within + 1.0):
        return await KIND.check(KIND.parse_target(name), decoded, within, ctx)


async def test_it_reports_up_with_the_answers_for_a_name_that_resolves(
    dns_server: DnsServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe("www.uptrack.test", dns_server.address, probe_ctx)

    assert seen.ok, seen.error
    assert seen.ip == "127.0.0.1"
    assert seen.timings.dns is not None
    assert seen.details == {
        "server": dns_server.address,
        "transport": "udp",
        "rcode": "NOERROR",
        "answers": ["192.0.2.10", "192.0.2.11"],
        "ttl": 300,
    }
    assert dns_server.queries == [("www.uptrack.test", "A", "udp")]


@pytest.mark.parametrize(
    ("name", "record", "answers"),
    [
        ("www.uptrack.test", "AAAA", ["2001:db8::10"]),
        ("uptrack.test", "MX", ["10 mail.uptrack.test", "20 backup.uptrack.test"]),
        ("uptrack.test", "TXT", ["v=spf1 -all"]),
        ("uptrack.test", "NS", ["ns1.uptrack.test"]),
        ("uptrack.test", "SOA", ["ns1.uptrack.test hostmaster.uptrack.test 7 3600 600 86400 300"]),
        ("alias.uptrack.test", "CNAME", ["www.uptrack.test"]),
        ("alias.uptrack.test", "A", ["192.0.2.10", "192.0.2.11"]),
    ],
)
async def test_it_records_every_record_type_in_canonical_form(
    dns_server: DnsServer, probe_ctx: ProbeContext, name: str, record: str, answers: list[str]
) -> None:
    seen = await probe(name, dns_server.address, probe_ctx, record=record, expect=answers)

    assert seen.ok, seen.error
    assert seen.details is not None
    assert seen.details["answers"] == answers


async def test_it_compares_expected_answers_in_any_order_and_form(
    dns_server: DnsServer, probe_ctx: ProbeContext
) -> None:
    a = await probe(
        "www.uptrack.test", dns_server.address, probe_ctx, expect=["192.0.2.11", "192.0.2.10"]
    )
    mx = await probe(
        "uptrack.test",
        dns_server.address,
        probe_ctx,
        record="MX",
        expect=["20 BACKUP.uptrack.test.", "10 mail.uptrack.test"],
    )

    assert a.ok, a.error
    assert mx.ok, mx.error


async def test_it_reports_dns_naming_what_came_back_when_the_answers_differ(
    dns_server: DnsServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe("www.uptrack.test", dns_server.address, probe_ctx, expect=["192.0.2.10"])

    assert seen.error_kind == "dns"
    assert seen.error == (
        'answers ["192.0.2.10","192.0.2.11"] for www.uptrack.test A, expected ["192.0.2.10"]'
    )


async def test_it_reports_dns_for_an_unexpected_rcode(
    dns_server: DnsServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe("gone.uptrack.test", dns_server.address, probe_ctx)

    assert seen.error_kind == "dns"
    assert seen.error == "rcode NXDOMAIN for gone.uptrack.test A, expected NOERROR"
    assert seen.details is not None
    assert seen.details["rcode"] == "NXDOMAIN"


async def test_it_passes_when_the_expected_rcode_comes_back(probe_ctx: ProbeContext) -> None:
    async with serve_dns(ZONE, "nxdomain") as server:
        gone = await probe("www.uptrack.test", server.address, probe_ctx, rcode="NXDOMAIN")
        there = await probe("www.uptrack.test", server.address, probe_ctx, rcode="NOERROR")

    assert gone.ok, gone.error
    assert there.error == "rcode NXDOMAIN for www.uptrack.test A, expected NOERROR"


async def test_it_reports_dns_when_the_name_has_no_records_of_the_type(
    dns_server: DnsServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe("uptrack.test", dns_server.address, probe_ctx, record="A")

    assert (seen.error_kind, seen.error) == ("dns", "no A records for uptrack.test")


async def test_it_asks_again_over_tcp_when_the_udp_answer_is_truncated(
    probe_ctx: ProbeContext,
) -> None:
    async with serve_dns(ZONE, "truncate") as server:
        seen = await probe("www.uptrack.test", server.address, probe_ctx)

    assert seen.ok, seen.error
    assert seen.details is not None
    assert seen.details["transport"] == "tcp"
    assert [q[2] for q in server.queries] == ["udp", "tcp"]


async def test_it_queries_over_tcp_when_told(
    dns_server: DnsServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe("www.uptrack.test", dns_server.address, probe_ctx, transport="tcp")

    assert seen.ok, seen.error
    assert dns_server.queries == [("www.uptrack.test", "A", "tcp")]


async def test_it_evaluates_assertions_on_the_answers(
    dns_server: DnsServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(
        "www.uptrack.test",
        dns_server.address,
        probe_ctx,
        assertions=['dns.answers contains "192.0.2.11"', "dns.ttl >= 3600"],
    )

    assert seen.error_kind == "assertion"
    assert seen.error == "assertion dns.ttl >= 3600 failed: observed 300"


# --- hostile resolvers -------------------------------------------------------------


async def test_it_times_out_when_the_server_never_answers(probe_ctx: ProbeContext) -> None:
    async with serve_dns(ZONE, "silent") as server:
        start = trio.current_time()
        seen = await probe("www.uptrack.test", server.address, probe_ctx, within=0.5)

    assert seen.error_kind == "timeout"
    assert seen.error == f"timed out after 0.5 s while waiting for an answer from {server.address}"
    assert 0.5 <= trio.current_time() - start < 0.9


@pytest.mark.parametrize("mode", ["garbage", "wrong_id"])
async def test_it_reports_protocol_for_an_answer_that_is_no_dns_answer(
    probe_ctx: ProbeContext, mode: DnsMode
) -> None:
    async with serve_dns(ZONE, mode) as server:
        seen = await probe("www.uptrack.test", server.address, probe_ctx)

    assert seen.error_kind == "protocol"
    assert seen.error is not None
    assert seen.error.startswith(f"unusable answer from {server.address}: ")


async def test_it_reports_refused_when_nothing_listens_for_tcp(probe_ctx: ProbeContext) -> None:
    port = closed_port()

    seen = await probe("www.uptrack.test", f"127.0.0.1:{port}", probe_ctx, transport="tcp")

    assert (seen.error_kind, seen.error) == ("refused", f"connection refused by 127.0.0.1:{port}")


async def test_it_asks_the_system_resolvers_in_turn_when_one_stays_silent(
    tmp_path: Path,
) -> None:
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("search uptrack.test\nnameserver 127.0.0.2\nnameserver 127.0.0.3\n")
    ctx = ProbeContext(resolv_conf=resolv_conf)
    async with (
        serve_dns(ZONE, "silent", host="127.0.0.2", port=53) as silent,
        serve_dns(ZONE, host="127.0.0.3", port=53) as answering,
    ):
        start = trio.current_time()
        seen = await KIND.check("www.uptrack.test", DnsSettings(), 1.0, ctx)
        elapsed = trio.current_time() - start

    assert seen.ok, seen.error
    assert seen.details is not None
    assert seen.details["server"] == "127.0.0.3:53"
    assert silent.queries == answering.queries == [("www.uptrack.test", "A", "udp")]
    assert 0.5 <= elapsed < 0.9  # the silent one had half of the timeout


# --- validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "parsed"),
    [("9.9.9.9", "9.9.9.9"), ("127.0.0.1:5353", "127.0.0.1:5353"), ("[::1]:53", "[::1]:53")],
)
async def test_it_accepts_a_server_as_an_address_with_an_optional_port(
    server: str, parsed: str
) -> None:
    assert KIND.check_settings(msgspec.convert({"server": server}, DnsSettings), timeout=5) == []


@pytest.mark.parametrize(
    ("settings", "field", "complaint"),
    [
        ({"server": "dns.google"}, "server", "is not an IP address"),
        ({"server": "1.1.1.1:99999"}, "server", "port '99999' is not a number"),
        ({"expect": ["not-an-ip"]}, "expect[0]", "does not appear to be an IPv4 or IPv6 address"),
        ({"record": "AAAA", "expect": ["192.0.2.1"]}, "expect[0]", "is not an IPv6 address"),
        ({"record": "MX", "expect": ["mail.example"]}, "expect[0]", "is not 'preference host'"),
        ({"expect": []}, "expect", "list at least one answer"),
        ({"assertions": ["dns.answer == 1"]}, "assertions[0]", "dns.answer is not a known fact"),
    ],
)
def test_it_names_the_field_of_bad_settings(
    settings: dict[str, Any], field: str, complaint: str
) -> None:
    [(name, message)] = KIND.check_settings(msgspec.convert(settings, DnsSettings), timeout=5)

    assert name == field
    assert complaint in message


@pytest.mark.parametrize(
    ("target", "complaint"),
    [("192.0.2.1", "queries a name"), ("exa mple.com", "is not a valid host name")],
)
def test_it_refuses_a_target_that_is_not_a_name(target: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        KIND.parse_target(target)


def test_it_refuses_an_unknown_record_type() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"at `\$.record`"):
        msgspec.convert({"record": "PTR"}, DnsSettings)
