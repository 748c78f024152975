"""The dns kind: one query to a resolver (dnspython on trio), judged by rcode and answers.

The target is the name to query. Without a `server` the resolvers of
/etc/resolv.conf are asked in turn, each with an equal share of the deadline. A
truncated UDP answer is asked again over TCP. Answers are recorded as text in a
canonical form (addresses compressed, names in lower case without the final dot,
TXT strings joined), and expected answers are compared in that form, in any order.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import msgspec
import trio

from checker.context import ProbeContext
from checker.kinds.tcp import Attempt, TargetFault, format_address, is_ip_literal, normalise_host
from uptrack.assertions import FactSchema, check_assertions
from uptrack.model import Observation

RecordType = Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA"]
Rcode = Literal[
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
]
Transport = Literal["udp", "tcp"]

MAX_ANSWERS = 100  # recorded per check
FACTS: FactSchema = {
    "dns": frozenset({"answers", "rcode", "ttl", "server"}),
    "response_time": None,
}
_NAME_TYPES = frozenset({"CNAME", "NS"})


class DnsSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Settings of a dns monitor; `DnsKind.check_settings` checks the values."""

    record: RecordType = "A"
    server: str | None = None  # resolver ip[:port]; default: those of /etc/resolv.conf
    expect: list[str] | None = None  # the exact set of answers, in any order
    rcode: Rcode | None = None  # the expected response code; default NOERROR with answers
    transport: Transport = "udp"
    assertions: list[str] = []


def parse_server(text: str) -> tuple[str, int]:
    """`ip`, `ip:port`, `v6` or `[v6]:port` -> (address, port); ValueError for the user."""
    value = text.strip()
    if is_ip_literal(value):
        return str(ipaddress.ip_address(value)), 53
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else None
        if not bracket or port_text is None:
            raise ValueError("expected [IPv6 address]:port, e.g. [::1]:53")
    else:
        host, _, port_text = value.rpartition(":")
    if not is_ip_literal(host):
        raise ValueError(f"{text!r} is not an IP address (with an optional port, e.g. 1.1.1.1:53)")
    if not port_text.isdecimal() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text!r} is not a number from 1 to 65535")
    return str(ipaddress.ip_address(host)), int(port_text)


def _name(text: str) -> str:
    return text.lower().rstrip(".") or "."


def canonical(record: RecordType, text: str) -> str:
    """An answer as the probe records it; ValueError when it cannot be one of `record`."""
    value = text.strip()
    if record in ("A", "AAAA"):
        address = ipaddress.ip_address(value)
        if address.version != (4 if record == "A" else 6):
            raise ValueError(f"{value!r} is not an IPv{4 if record == 'A' else 6} address")
        return str(address)
    if record in _NAME_TYPES:
        return _name(value)
    if record == "MX":
        preference, _, exchange = value.partition(" ")
        if not preference.isdecimal() or not exchange.strip():
            raise ValueError(f"{value!r} is not 'preference host', e.g. '10 mail.example.com'")
        return f"{int(preference)} {_name(exchange.strip())}"
    if record == "SOA":
        words = value.split()
        if len(words) != 7 or not all(w.isdecimal() for w in words[2:]):
            raise ValueError(f"{value!r} is not 'mname rname serial refresh retry expire minimum'")
        return " ".join([_name(words[0]), _name(words[1]), *words[2:]])
    return value  # TXT: the joined strings, exactly


def _rdata_text(record: RecordType, rdata: Any) -> str:
    if record in ("A", "AAAA"):
        return str(ipaddress.ip_address(rdata.address))
    if record in _NAME_TYPES:
        return _name(rdata.target.to_text())
    if record == "MX":
        return f"{rdata.preference} {_name(rdata.exchange.to_text())}"
    if record == "SOA":
        names = f"{_name(rdata.mname.to_text())} {_name(rdata.rname.to_text())}"
        numbers = (rdata.serial, rdata.refresh, rdata.retry, rdata.expire, rdata.minimum)
        return f"{names} {' '.join(str(n) for n in numbers)}"
    joined: bytes = b"".join(rdata.strings)
    return joined.decode("utf-8", errors="backslashreplace")


def _answers(response: dns.message.Message, record: RecordType) -> tuple[list[str], int | None]:
    wanted = dns.rdatatype.from_text(record)
    answers: list[str] = []
    ttl: int | None = None
    for rrset in response.answer:
        if rrset.rdtype != wanted:
            continue  # e.g. the CNAME chain in front of an A answer
        ttl = rrset.ttl if ttl is None else min(ttl, rrset.ttl)
        answers.extend(_rdata_text(record, rdata) for rdata in rrset)
    return sorted(answers)[:MAX_ANSWERS], ttl


async def _ask(
    query: dns.message.Message, address: str, port: int, transport: Transport, attempt: Attempt
) -> tuple[dns.message.Message, Transport]:
    backend = dns.asyncbackend.get_backend("trio")
    where = format_address(address, port)
    try:
        if transport == "udp":
            attempt.phase = f"waiting for an answer from {where}"
            response = await dns.asyncquery.udp(query, address, port=port, backend=backend)
            if not response.flags & dns.flags.TC:
                return response, "udp"
        attempt.phase = f"waiting for an answer from {where} over TCP"
        return await dns.asyncquery.tcp(query, address, port=port, backend=backend), "tcp"
    except dns.exception.DNSException as exc:
        reason = str(exc).rstrip(".") or type(exc).__name__
        raise TargetFault("protocol", f"unusable answer from {where}: {reason}") from None
    except ConnectionRefusedError:
        raise TargetFault("refused", f"connection refused by {where}") from None
    except OSError as exc:
        reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
        raise TargetFault("network", f"cannot query {where}: {reason}") from None


async def _query(
    name: str, settings: DnsSettings, ctx: ProbeContext, attempt: Attempt, deadline: float
) -> tuple[dns.message.Message, Transport]:
    if settings.server is not None:
        servers = [parse_server(settings.server)]
    else:
        servers = [(address, 53) for address in ctx.system_nameservers() if is_ip_literal(address)]
    if not servers:
        raise TargetFault("dns", "no resolver: set server, or list one in /etc/resolv.conf")
    query = dns.message.make_query(name, settings.record)
    since = trio.current_time()
    for index, (address, port) in enumerate(servers):
        attempt.ip = address
        left = len(servers) - index
        if left > 1:
            # An equal share of what is left for each resolver still to ask; the
            # last one runs into the check's own deadline (and its timeout message).
            share = (deadline - trio.current_time()) / left
            with trio.move_on_after(share):
                answer = await _ask(query, address, port, settings.transport, attempt)
                break
            continue
        answer = await _ask(query, address, port, settings.transport, attempt)
    attempt.lap("dns", since)
    attempt.details["server"] = format_address(attempt.ip or "", port)
    return answer


def _judge(
    name: str, settings: DnsSettings, response: dns.message.Message, attempt: Attempt
) -> None:
    rcode = dns.rcode.to_text(response.rcode())
    answers, ttl = _answers(response, settings.record)
    attempt.details.update({"rcode": rcode, "answers": answers, "ttl": ttl})
    what = f"{name} {settings.record}"
    expected_rcode = settings.rcode or "NOERROR"
    if rcode != expected_rcode:
        raise TargetFault("dns", f"rcode {rcode} for {what}, expected {expected_rcode}")
    if settings.expect is not None:
        expected = sorted({canonical(settings.record, value) for value in settings.expect})
        if sorted(set(answers)) != expected:
            got = msgspec.json.encode(answers).decode()
            wanted = msgspec.json.encode(expected).decode()
            raise TargetFault("dns", f"answers {got} for {what}, expected {wanted}")
    elif settings.rcode is None and not answers:
        raise TargetFault("dns", f"no {settings.record} records for {name}")
    if settings.assertions:
        attempt.judge(
            settings.assertions,
            {
                "dns": {
                    "answers": answers,
                    "rcode": rcode,
                    "ttl": ttl,
                    "server": attempt.details.get("server"),
                },
                "response_time": attempt.elapsed_ms(),
            },
        )


def parse_name(target: str) -> str:
    """The name to query, normalised; ValueError for an address or a malformed name."""
    text = target.strip()
    if is_ip_literal(text):
        raise ValueError("a dns monitor queries a name, e.g. example.com, not an address")
    return normalise_host(text)


class DnsKind:
    """Up when the resolver answers the query with the expected rcode and answers."""

    name = "dns"
    settings_type = DnsSettings
    secret_fields: tuple[str, ...] = ()
    secret_header_fields: tuple[str, ...] = ()
    secret_url_fields: tuple[str, ...] = ()

    def parse_target(self, target: str) -> str:
        return parse_name(target)

    def check_settings(self, settings: msgspec.Struct, *, timeout: float) -> list[tuple[str, str]]:
        if not isinstance(settings, DnsSettings):
            raise TypeError(f"expected DnsSettings, got {type(settings).__name__}")
        problems: list[tuple[str, str]] = []
        if settings.server is not None:
            try:
                parse_server(settings.server)
            except ValueError as exc:
                problems.append(("server", str(exc)))
        for index, value in enumerate(settings.expect or ()):
            try:
                canonical(settings.record, value)
            except ValueError as exc:
                problems.append((f"expect[{index}]", f"{exc} ({settings.record} record)"))
        if settings.expect == [] and settings.rcode in (None, "NOERROR"):
            problems.append(("expect", "list at least one answer (or leave it out)"))
        problems.extend(check_assertions(settings.assertions, FACTS))
        return problems

    async def check(
        self, target: str, settings: Any, timeout: float, ctx: ProbeContext
    ) -> Observation:
        name = parse_name(target)
        attempt = Attempt()
        deadline = trio.current_time() + timeout
        with trio.move_on_at(deadline):
            try:
                response, transport = await _query(name, settings, ctx, attempt, deadline)
                attempt.details["transport"] = transport
                _judge(name, settings, response, attempt)
            except TargetFault as fault:
                return attempt.observe(fault.kind, fault.message)
            return attempt.observe()
        return attempt.timed_out(timeout)


KIND = DnsKind()
