"""The assertion language: parsing (with positions), fact checks and evaluation."""

from __future__ import annotations

from typing import Any

import pytest

from uptrack.assertions import (
    MAX_ASSERTIONS,
    AssertionSyntaxError,
    Unavailable,
    check_assertions,
    evaluate,
    failure_message,
    judge,
    parse,
    roots_of,
)

SCHEMA: dict[str, Any] = {
    "status": None,
    "json": "any",
    "header": "any",
    "cert": frozenset({"days_left", "issuer"}),
}


@pytest.mark.parametrize(
    ("text", "path", "operator", "value"),
    [
        ("status in [200, 204]", "status", "in", [200, 204]),
        ('json.data.status == "ok"', "json.data.status", "==", "ok"),
        ("response_time < 800", "response_time", "<", 800),
        ("cert.days_left > 14", "cert.days_left", ">", 14),
        ('dns.answers contains "1.2.3.4"', "dns.answers", "contains", "1.2.3.4"),
        ('header.content-type matches "json"', "header.content-type", "matches", "json"),
        ('json.items[0]["a b"] != null', 'json.items[0]["a b"]', "!=", None),
        ("json.items[-1].ok == false", "json.items[-1].ok", "==", False),
        ("  x>=-1.5e3 ", "x", ">=", -1500.0),
        ("x <= 'it\\'s'", "x", "<=", "it's"),
        ('x == "\\u00e9\\n"', "x", "==", "é\n"),
        ("x == []", "x", "==", []),
        ("x in [true, null, 'a', 2.5]", "x", "in", [True, None, "a", 2.5]),
    ],
)
def test_it_parses_a_condition_into_path_operator_and_value(
    text: str, path: str, operator: str, value: Any
) -> None:
    parsed = parse(text)

    assert (parsed.path, parsed.operator, parsed.value) == (path, operator, value)
    assert parsed.text == text.strip()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "expected a condition such as status == 200 at column 1"),
        ("status in [200, 204]]", "unexpected ']' at column 21"),
        ("status = 200", "'=' is not an operator; compare with '==' at column 8"),
        (
            "status",
            "expected an operator (==, !=, <, <=, >, >=, in, contains, matches) at column 7",
        ),
        ("status is 200", "unexpected 'is'; expected an operator"),
        (
            "status ==",
            'expected a value (a number, "text", true, false, null or a [list]) at column 10',
        ),
        ("status in 200", "'in' needs a list, e.g. status in [200, 204], at column 11"),
        ('status == "abc', "unterminated string at column 11"),
        ("json.a. == 1", "expected a field name after '.' at column 8"),
        ("x.y[] == 1", 'expected an index like [0] or a key like ["name"] at column 5'),
        ("x == tru", "unexpected 'tru' at column 6"),
        ("x < [1]", "'<' needs a single value, not a list, at column 5"),
        ("x < true", "'<' needs a number or a string at column 5"),
        ("x in [[1]]", "lists cannot be nested at column 7"),
        ("x in [1 2]", "unexpected '2' at column 9"),
        ('x == "\\q"', "unknown escape '\\q' at column 7"),
        ("x matches 1", "'matches' needs a regular expression in quotes at column 11"),
        ('x matches "("', "invalid regular expression (missing ), unterminated subpattern"),
        ("x matches '" + "a" * 201 + "'", "the regular expression is over 200 characters"),
        ("1 == 1", "expected a fact name such as status, not '1' at column 1"),
        ("x == 1e999", "number out of range at column 6"),
        ("x == " + "1" * 600, "longer than 500 characters"),
    ],
)
def test_it_refuses_a_bad_condition_naming_the_column(text: str, error: str) -> None:
    with pytest.raises(AssertionSyntaxError) as raised:
        parse(text)

    assert error in str(raised.value)


def test_it_checks_the_facts_a_kind_offers_and_names_the_list_position() -> None:
    problems = check_assertions(
        [
            "status == 200",
            "stat == 1",
            "status.code == 1",
            "cert.day > 1",
            "json.a.b[0] == 1",
            "x in",
        ],
        SCHEMA,
    )

    assert problems == [
        (
            "assertions[1]",
            "unknown fact 'stat' at column 1 (known: cert.days_left, "
            "cert.issuer, header.<path>, json.<path>, status)",
        ),
        ("assertions[2]", "status is a single value and has no fields"),
        ("assertions[3]", "cert.day is not a known fact (known: cert.days_left, cert.issuer)"),
        (
            "assertions[5]",
            'expected a value (a number, "text", true, false, null or a [list]) at column 5',
        ),
    ]


def test_it_limits_the_number_of_assertions() -> None:
    problems = check_assertions(["status == 200"] * (MAX_ASSERTIONS + 1), SCHEMA)

    assert problems == [
        ("assertions", f"{MAX_ASSERTIONS + 1} assertions; at most {MAX_ASSERTIONS}")
    ]


FACTS: dict[str, Any] = {
    "status": 200,
    "response_time": 120.5,
    "header": {"content-type": "application/json; charset=utf-8"},
    "json": {"data": {"status": "ok", "items": [1, 2, 3], "flag": True, "none": None}},
    "dns": {"answers": ["1.2.3.4", "5.6.7.8"]},
    "cert": Unavailable("the response came over http"),
}


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("status in [200, 204]", True),
        ("status in [201, 204]", False),
        ("status == 200.0", True),
        ("status != 200", False),
        ("response_time < 800", True),
        ("response_time >= 120.5", True),
        ('json.data.status == "ok"', True),
        ("json.data.items[-1] == 3", True),
        ("json.data.items contains 2", True),
        ("json.data.items == [1, 2, 3]", True),
        ("json.data contains 'items'", True),
        ("json.data.flag == true", True),
        ("json.data.flag == 1", False),
        ("json.data.none == null", True),
        ('dns.answers contains "1.2.3.4"', True),
        ('dns.answers contains "9.9.9.9"', False),
        ('header.content-type matches "json"', True),
        ('header.content-type matches "^text/"', False),
        ('status matches "^2\\\\d\\\\d$"', True),
        ('"a" < "b"', None),
    ],
)
def test_it_evaluates_conditions_against_facts(text: str, ok: bool | None) -> None:
    if ok is None:
        with pytest.raises(AssertionSyntaxError):
            parse(text)
        return
    assert evaluate(parse(text), FACTS).ok is ok


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("json.data.missing == 1", "json.data.missing is missing"),
        ("json.data.items[7] == 1", "json.data.items[7] is missing"),
        ("json.data.status[0] == 1", "json.data.status[0] is missing"),
        ("status < 'x'", "cannot compare a number with a string"),
        ("json.data.flag contains 1", "a boolean contains nothing"),
        ("json.data matches 'x'", "cannot match a object against a regular expression"),
        ("cert.days_left > 14", "the response came over http"),
    ],
)
def test_a_condition_that_cannot_be_judged_fails_with_the_reason(text: str, reason: str) -> None:
    outcome = evaluate(parse(text), FACTS)

    assert not outcome.ok
    assert outcome.reason == reason


def test_the_failure_message_names_the_first_failure_and_counts_the_rest() -> None:
    outcomes = judge(
        ["status == 200", 'json.data.status == "down"', "json.nope == 1", "status == 500"], FACTS
    )

    assert [o.ok for o in outcomes] == [True, False, False, False]
    assert failure_message(outcomes) == (
        'assertion json.data.status == "down" failed: observed "ok" (and 2 more)'
    )
    assert failure_message(outcomes[:1]) is None
    assert failure_message(outcomes[2:3]) == (
        "assertion json.nope == 1 failed: json.nope is missing"
    )


def test_observed_values_are_kept_small() -> None:
    facts = {"body": "x" * 10_000, "json": {"list": list(range(1000))}}

    text = evaluate(parse('body == "y"'), facts).observed
    structure = evaluate(parse("json.list == []"), facts).observed

    assert len(text) == 201
    assert isinstance(structure, str)
    assert len(structure) == 201


def test_roots_of_lists_the_facts_read() -> None:
    assert roots_of(["json.a == 1", "status == 200", "json.b == 2"]) == {"json", "status"}
