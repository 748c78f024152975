"""The icmp kind: real pings to loopback, and loss, delay and silence in a namespace of our own.

On the host the tests run as root, so the probe uses a raw socket (the host's
`ping_group_range` admits no group). Everything that needs a network that
misbehaves runs in `IsolatedNetwork` (tests/servers/netns.py): a network
namespace with only its own loopback, where kernel echo replies can be switched
off and an echo responder of the test's own decides what is answered.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest
import trio

from checker.context import ProbeContext
from checker.kinds.icmp import KIND, IcmpSettings, checksum, echo_request
from tests.servers.icmp import EchoPolicy
from tests.servers.netns import IsolatedNetwork
from uptrack.model import Observation


async def probe(target: str, within: float = 1.0, **settings: Any) -> Observation:
    decoded = msgspec.convert(settings, IcmpSettings)
    assert KIND.check_settings(decoded, timeout=within) == []
    with trio.fail_after(within + 1.0):
        return await KIND.check(KIND.parse_target(target), decoded, within, ProbeContext())


@pytest.mark.parametrize(("target", "ip"), [("127.0.0.1", "127.0.0.1"), ("::1", "::1")])
async def test_it_reports_up_with_round_trips_when_every_echo_is_answered(
    target: str, ip: str
) -> None:
    seen = await probe(target, spacing_ms=20)

    assert seen.ok, seen.error
    assert seen.ip == ip
    assert seen.details is not None
    icmp = seen.details["icmp"]
    assert (icmp["sent"], icmp["received"], icmp["loss_percent"]) == (3, 3, 0.0)
    assert 0 < icmp["rtt_min_ms"] <= icmp["rtt_avg_ms"] <= icmp["rtt_max_ms"] < 100
    assert icmp["socket"] == "raw"  # root, and the host's ping_group_range admits nobody


async def test_it_resolves_a_host_name_once() -> None:
    seen = await probe("localhost", count=1)

    assert seen.ok, seen.error
    assert seen.ip == "127.0.0.1"
    assert seen.timings.dns is not None


async def test_it_evaluates_assertions_on_the_statistics() -> None:
    seen = await probe(
        "127.0.0.1",
        count=2,
        spacing_ms=10,
        assertions=["icmp.received == 2", "icmp.rtt_max_ms > 100000"],
    )

    assert seen.error_kind == "assertion"
    assert seen.error is not None
    assert seen.error.startswith("assertion icmp.rtt_max_ms > 100000 failed: observed ")


# --- in a network namespace of our own ------------------------------------------------


async def test_it_uses_an_unprivileged_datagram_socket_where_the_kernel_allows(
    isolated: IsolatedNetwork,
) -> None:
    seen = await isolated.probe(
        "icmp", "127.0.0.1", 1.0, settings={"spacing_ms": 20}, unprivileged_icmp=True
    )

    assert seen.ok, seen.error
    assert seen.details is not None
    assert seen.details["icmp"]["socket"] == "dgram"
    assert seen.details["icmp"]["received"] == 3


@pytest.mark.parametrize("unprivileged_icmp", [True, False])
async def test_it_times_out_with_full_loss_when_nothing_answers(
    isolated: IsolatedNetwork, unprivileged_icmp: bool
) -> None:
    seen = await isolated.probe(
        "icmp",
        "127.0.0.1",
        0.5,
        settings={"spacing_ms": 20},
        kernel_echo=False,
        unprivileged_icmp=unprivileged_icmp,
    )

    assert seen.error_kind == "timeout"
    assert seen.error == "no echo reply from 127.0.0.1 to 3 requests (100% loss)"
    assert seen.details is not None
    assert seen.details["icmp"]["loss_percent"] == 100.0
    assert seen.timings.total is not None
    assert 400 <= seen.timings.total < 500  # waited until just before the deadline


@pytest.mark.parametrize("unprivileged_icmp", [True, False])
async def test_it_reports_network_when_loss_is_above_max_loss_percent(
    isolated: IsolatedNetwork, unprivileged_icmp: bool
) -> None:
    seen = await isolated.probe(
        "icmp",
        "127.0.0.1",
        0.5,
        settings={"spacing_ms": 20, "max_loss_percent": 20},
        kernel_echo=False,
        unprivileged_icmp=unprivileged_icmp,
        echo=EchoPolicy(drop=[1]),
    )

    assert seen.error_kind == "network"
    assert seen.error == (
        "33.3% packet loss to 127.0.0.1 (2 of 3 replies), above max_loss_percent 20"
    )


async def test_it_tolerates_loss_up_to_max_loss_percent(isolated: IsolatedNetwork) -> None:
    seen = await isolated.probe(
        "icmp",
        "127.0.0.1",
        0.5,
        settings={"spacing_ms": 20, "max_loss_percent": 50},
        kernel_echo=False,
        echo=EchoPolicy(drop=[0]),
    )

    assert seen.ok, seen.error
    assert seen.details is not None
    assert seen.details["icmp"]["loss_percent"] == 33.3


async def test_it_reports_timeout_when_round_trips_are_above_max_rtt_ms(
    isolated: IsolatedNetwork,
) -> None:
    seen = await isolated.probe(
        "icmp",
        "127.0.0.1",
        1.0,
        settings={"spacing_ms": 20, "max_rtt_ms": 50},
        kernel_echo=False,
        echo=EchoPolicy(delay=0.1),
    )

    assert seen.error_kind == "timeout"
    assert seen.error is not None
    assert re.fullmatch(
        r"average round trip 1\d\d(\.\d+)? ms to 127\.0\.0\.1, above max_rtt_ms 50", seen.error
    )


@pytest.mark.parametrize("unprivileged_icmp", [True, False])
async def test_it_ignores_replies_that_do_not_match_its_requests(
    isolated: IsolatedNetwork, unprivileged_icmp: bool
) -> None:
    seen = await isolated.probe(
        "icmp",
        "127.0.0.1",
        0.5,
        settings={"spacing_ms": 20},
        kernel_echo=False,
        unprivileged_icmp=unprivileged_icmp,
        echo=EchoPolicy(corrupt=True),
    )

    assert seen.error_kind == "timeout"
    assert seen.details is not None
    assert seen.details["icmp"]["received"] == 0


async def test_it_reports_network_when_the_address_cannot_be_reached(
    isolated: IsolatedNetwork,
) -> None:
    seen = await isolated.probe("icmp", "127.0.0.2", 0.5)

    assert seen.error_kind == "network"
    assert seen.error == "cannot ping 127.0.0.2: network is unreachable"


# --- packets and validation -----------------------------------------------------------


def test_the_checksum_of_an_echo_request_verifies() -> None:
    import socket

    packet = echo_request(socket.AF_INET, 0x1234, 7, b"abcdefgh" * 7)

    assert checksum(packet) == 0
    assert packet[:2] == b"\x08\x00"


@pytest.mark.parametrize(
    ("target", "normalised"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("0:0::1", "::1"),
        ("Example.COM", "example.com"),
    ],
)
def test_it_normalises_the_target(target: str, normalised: str) -> None:
    assert KIND.parse_target(target) == normalised


@pytest.mark.parametrize("target", ["example.com:80", "http://example.com/"])
def test_it_refuses_a_target_with_a_port_or_scheme(target: str) -> None:
    with pytest.raises(ValueError, match="without a port or a scheme"):
        KIND.parse_target(target)


@pytest.mark.parametrize(
    ("settings", "field", "complaint"),
    [
        ({"count": 0}, "count", "0 is not within 1-20"),
        ({"spacing_ms": 5}, "spacing_ms", "5 is not within 10-5000"),
        ({"count": 20, "spacing_ms": 1000}, "spacing_ms", "do not fit in the timeout (5 s)"),
        ({"max_loss_percent": 100}, "max_loss_percent", "100 is not within 0-99.9"),
        ({"max_rtt_ms": 0}, "max_rtt_ms", "must be above 0"),
        ({"assertions": ["icmp.loss > 1"]}, "assertions[0]", "icmp.loss is not a known fact"),
    ],
)
def test_it_names_the_field_of_bad_settings(
    settings: dict[str, Any], field: str, complaint: str
) -> None:
    [(name, message)] = KIND.check_settings(msgspec.convert(settings, IcmpSettings), timeout=5)

    assert name == field
    assert complaint in message
