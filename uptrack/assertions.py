"""The assertion language of monitors: conditions parsed once, evaluated without `eval`.

    assertion := path operator value
    path      := NAME ( "." KEY | "[" INTEGER "]" | "[" STRING "]" )*
    operator  := "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "contains" | "matches"
    value     := NUMBER | STRING | "true" | "false" | "null" | "[" [scalar ("," scalar)*] "]"

`status in [200, 204]`, `json.data.status == "ok"`, `header.content-type matches "json"`.
A path starts at a fact its kind offers (`FactSchema`); `.key` steps into an object,
`[0]` into a list (negative indexes count from the end), `["odd key"]` into an
object by any key. Strings are JSON-like ("…" or '…', backslash escapes). A
regular expression is compiled when the assertion is parsed, so a bad one is
refused when the monitor is saved. Columns in errors count from 1.

The API validates assertions through the kinds' `check_settings` without importing
the checker; probes evaluate them against the facts they observed.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

MAX_ASSERTIONS = 20
MAX_LENGTH = 500
MAX_PATTERN = 200
MAX_LIST = 100
MAX_SUBJECT = 64 * 1024  # `matches` searches at most this many characters
MAX_OBSERVED = 200  # characters of an observed value kept in a result

Operator = Literal["==", "!=", "<", "<=", ">", ">=", "in", "contains", "matches"]
OPERATORS: tuple[Operator, ...] = ("==", "!=", "<", "<=", ">", ">=", "in", "contains", "matches")
_WORD_OPERATORS = ("in", "contains", "matches")
_SYMBOL_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")  # two-character ones first
_OPERATOR_OF: dict[str | None, Operator] = {op: op for op in OPERATORS}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY = re.compile(r"[A-Za-z0-9_-]+")
_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "n": "\n", "r": "\r", "t": "\t"}
_MISSING: Any = object()

ANY_FIELDS: Literal["any"] = "any"
Fields = frozenset[str] | Literal["any"] | None
"""What may follow a fact: None for a plain value, "any" for a free path (JSON,
headers), or the field names of a record (`cert.days_left`)."""

FactSchema = Mapping[str, Fields]
"""The facts a kind offers to assertions, by name."""


class AssertionSyntaxError(ValueError):
    """An assertion that does not parse; `column` counts from 1."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} at column {column}")
        self.column = column


class Assertion(msgspec.Struct, frozen=True, kw_only=True):
    """One parsed condition: the fact it reads, how it compares, and with what."""

    text: str
    root: str
    steps: tuple[str | int, ...]
    operator: Operator
    value: Any
    pattern: re.Pattern[str] | None = None

    @property
    def path(self) -> str:
        parts = [self.root]
        for step in self.steps:
            if isinstance(step, int):
                parts.append(f"[{step}]")
            elif _KEY.fullmatch(step):
                parts.append(f".{step}")
            else:
                parts.append(f"[{msgspec.json.encode(step).decode()}]")
        return "".join(parts)


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """How one assertion fared: what was observed, and why it failed if it did."""

    assertion: str
    ok: bool
    observed: Any = None
    reason: str | None = None


class Unavailable(msgspec.Struct, frozen=True):
    """A fact a probe could not establish, and why (e.g. a body that is not JSON)."""

    reason: str


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    # -- scanning ----------------------------------------------------------------
    def fail(self, message: str, at: int | None = None) -> AssertionSyntaxError:
        return AssertionSyntaxError(message, (self.at if at is None else at) + 1)

    def skip_space(self) -> None:
        while self.at < len(self.text) and self.text[self.at] in " \t":
            self.at += 1

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def unexpected(self) -> AssertionSyntaxError:
        if self.at >= len(self.text):
            return self.fail("unexpected end")
        word = _KEY.match(self.text, self.at)
        shown = word.group() if word else self.text[self.at]
        return self.fail(f"unexpected {shown!r}")

    def take(self, pattern: re.Pattern[str]) -> str | None:
        match = pattern.match(self.text, self.at)
        if match is None:
            return None
        self.at = match.end()
        return match.group()

    # -- grammar -----------------------------------------------------------------
    def assertion(self) -> Assertion:
        self.skip_space()
        if self.at >= len(self.text):
            raise self.fail("expected a condition such as status == 200")
        root = self.take(_NAME)
        if root is None:
            raise self.fail(f"expected a fact name such as status, not {self.peek()!r}")
        steps = self.steps()
        self.skip_space()
        operator_at = self.at
        operator = self.operator()
        self.skip_space()
        value_at = self.at
        value = self.value(allow_list=True)
        self.skip_space()
        if self.at < len(self.text):
            raise self.unexpected()
        pattern = self.check_operand(operator, value, operator_at, value_at)
        return Assertion(
            text=self.text.strip(),
            root=root,
            steps=tuple(steps),
            operator=operator,
            value=value,
            pattern=pattern,
        )

    def steps(self) -> list[str | int]:
        steps: list[str | int] = []
        while True:
            char = self.peek()
            if char == ".":
                self.at += 1
                key = self.take(_KEY)
                if key is None:
                    raise self.fail("expected a field name after '.'")
                steps.append(key)
            elif char == "[":
                self.at += 1
                self.skip_space()
                if self.peek() in ("'", '"'):
                    steps.append(self.string())
                else:
                    index = self.take(_INTEGER)
                    if index is None:
                        raise self.fail('expected an index like [0] or a key like ["name"]')
                    steps.append(int(index))
                self.skip_space()
                if self.peek() != "]":
                    raise self.unexpected()
                self.at += 1
            else:
                return steps

    def operator(self) -> Operator:
        for symbol in _SYMBOL_OPERATORS:
            if self.text.startswith(symbol, self.at):
                self.at += len(symbol)
                return _OPERATOR_OF[symbol]
        start = self.at
        word = self.take(_NAME)
        if word in _WORD_OPERATORS:
            return _OPERATOR_OF[word]
        self.at = start
        if self.peek() == "=":
            raise self.fail("'=' is not an operator; compare with '=='")
        if self.at >= len(self.text):
            raise self.fail("expected an operator (" + ", ".join(OPERATORS) + ")")
        raise self.fail(
            f"unexpected {(word or self.peek())!r}; expected an operator ("
            + ", ".join(OPERATORS)
            + ")"
        )

    def value(self, *, allow_list: bool) -> Any:
        char = self.peek()
        if char in ("'", '"'):
            return self.string()
        if char == "[" and allow_list:
            return self.list()
        if char == "-" or char.isdigit():
            start = self.at
            match = _NUMBER.match(self.text, self.at)
            if match is None:
                raise self.unexpected()
            self.at = match.end()
            if match.group(1) or match.group(2):
                number = float(match.group())
                if not math.isfinite(number):
                    raise self.fail("number out of range", start)
                return number
            return int(match.group())
        start = self.at
        word = self.take(_NAME)
        if word in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[word]
        self.at = start
        if self.at >= len(self.text):
            raise self.fail('expected a value (a number, "text", true, false, null or a [list])')
        raise self.unexpected()

    def list(self) -> list[Any]:
        self.at += 1  # [
        items: list[Any] = []
        self.skip_space()
        if self.peek() == "]":
            self.at += 1
            return items
        while True:
            self.skip_space()
            if self.peek() == "[":
                raise self.fail("lists cannot be nested")
            items.append(self.value(allow_list=False))
            if len(items) > MAX_LIST:
                raise self.fail(f"a list holds at most {MAX_LIST} values")
            self.skip_space()
            char = self.peek()
            self.at += 1
            if char == "]":
                return items
            if char != ",":
                self.at -= 1
                raise self.unexpected()

    def string(self) -> str:
        quote = self.text[self.at]
        start = self.at
        self.at += 1
        out: list[str] = []
        while True:
            if self.at >= len(self.text):
                raise self.fail("unterminated string", start)
            char = self.text[self.at]
            self.at += 1
            if char == quote:
                return "".join(out)
            if char != "\\":
                out.append(char)
                continue
            escape = self.peek()
            if escape in _ESCAPES:
                out.append(_ESCAPES[escape])
                self.at += 1
            elif escape == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", self.text[self.at + 1 :][:4]):
                out.append(chr(int(self.text[self.at + 1 : self.at + 5], 16)))
                self.at += 5
            else:
                raise self.fail(f"unknown escape '\\{escape}'", self.at - 1)

    def check_operand(
        self, operator: Operator, value: Any, operator_at: int, value_at: int
    ) -> re.Pattern[str] | None:
        if operator == "in" and not isinstance(value, list):
            raise self.fail("'in' needs a list, e.g. status in [200, 204],", value_at)
        if operator != "in" and isinstance(value, list) and operator != "==" and operator != "!=":
            raise self.fail(f"{operator!r} needs a single value, not a list,", value_at)
        if operator in ("<", "<=", ">", ">="):
            if not (_is_number(value) or isinstance(value, str)):
                raise self.fail(f"{operator!r} needs a number or a string", value_at)
        if operator != "matches":
            return None
        if not isinstance(value, str):
            raise self.fail("'matches' needs a regular expression in quotes", value_at)
        if len(value) > MAX_PATTERN:
            raise self.fail(f"the regular expression is over {MAX_PATTERN} characters", value_at)
        try:
            return re.compile(value)
        except re.error as exc:
            raise self.fail(f"invalid regular expression ({exc})", value_at) from None


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Assertion:
    """One assertion; AssertionSyntaxError names what is wrong and at which column."""
    if len(text) > MAX_LENGTH:
        raise AssertionSyntaxError(f"longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    return _Parser(text).assertion()


def _describe(schema: FactSchema) -> str:
    names = []
    for name, fields in sorted(schema.items()):
        if fields is None:
            names.append(name)
        elif fields == ANY_FIELDS:
            names.append(f"{name}.<path>")
        else:
            names.extend(f"{name}.{field}" for field in sorted(fields))
    return ", ".join(names)


def check_facts(assertion: Assertion, schema: FactSchema) -> str | None:
    """Why the assertion reads a fact the kind does not offer, or None if it is fine."""
    if assertion.root not in schema:
        return f"unknown fact {assertion.root!r} at column 1 (known: {_describe(schema)})"
    fields = schema[assertion.root]
    if fields is None and assertion.steps:
        return f"{assertion.root} is a single value and has no fields"
    if isinstance(fields, frozenset):
        first = assertion.steps[0] if assertion.steps else None
        if first not in fields:
            known = ", ".join(f"{assertion.root}.{f}" for f in sorted(fields))
            return f"{assertion.path} is not a known fact (known: {known})"
    return None


def check_assertions(texts: Sequence[str], schema: FactSchema) -> list[tuple[str, str]]:
    """(field, message) for every bad assertion, as `KindSchema.check_settings` returns."""
    problems: list[tuple[str, str]] = []
    if len(texts) > MAX_ASSERTIONS:
        problems.append(("assertions", f"{len(texts)} assertions; at most {MAX_ASSERTIONS}"))
    for index, text in enumerate(texts):
        field = f"assertions[{index}]"
        try:
            assertion = parse(text)
        except AssertionSyntaxError as exc:
            problems.append((field, str(exc)))
            continue
        problem = check_facts(assertion, schema)
        if problem is not None:
            problems.append((field, problem))
    return problems


def roots_of(texts: Sequence[str]) -> set[str]:
    """The facts a list of (valid) assertions reads; lets a probe skip costly facts."""
    return {parse(text).root for text in texts}


# -- evaluation ----------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    return "object"


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _lookup(facts: Mapping[str, Any], assertion: Assertion) -> Any:
    value = facts.get(assertion.root, _MISSING)
    if isinstance(value, Unavailable):
        return value
    for step in assertion.steps:
        if value is _MISSING:
            return _MISSING
        if isinstance(step, int):
            if not isinstance(value, list | tuple) or not -len(value) <= step < len(value):
                return _MISSING
            value = value[step]
        elif isinstance(value, Mapping):
            value = value.get(step, _MISSING)
        else:
            return _MISSING
    return value


def bounded(value: Any) -> Any:
    """`value` small enough to keep in a result: long text and big structures cut."""
    if isinstance(value, str):
        return value if len(value) <= MAX_OBSERVED else value[:MAX_OBSERVED] + "…"
    if isinstance(value, list | tuple | dict):
        encoded = msgspec.json.encode(value).decode()
        return value if len(encoded) <= MAX_OBSERVED else encoded[:MAX_OBSERVED] + "…"
    return value


def _compare(operator: Operator, observed: Any, value: Any, a: Assertion) -> str | None:
    """None when the condition holds, else why it does not (beyond 'it is different')."""
    if operator == "==":
        return None if _equal(observed, value) else ""
    if operator == "!=":
        return "" if _equal(observed, value) else None
    if operator == "in":
        return None if any(_equal(observed, item) for item in value) else ""
    if operator in ("<", "<=", ">", ">="):
        if not (
            (_is_number(observed) and _is_number(value))
            or (isinstance(observed, str) and isinstance(value, str))
        ):
            return f"cannot compare a {_type_name(observed)} with a {_type_name(value)}"
        holds = {
            "<": observed < value,
            "<=": observed <= value,
            ">": observed > value,
            ">=": observed >= value,
        }[operator]
        return None if holds else ""
    if operator == "contains":
        if isinstance(observed, str):
            if not isinstance(value, str):
                return f"text cannot contain a {_type_name(value)}"
            return None if value in observed else ""
        if isinstance(observed, list | tuple):
            return None if any(_equal(item, value) for item in observed) else ""
        if isinstance(observed, Mapping):
            return None if isinstance(value, str) and value in observed else ""
        return f"a {_type_name(observed)} contains nothing"
    # matches
    if _is_number(observed):
        observed = str(observed)
    if not isinstance(observed, str):
        return f"cannot match a {_type_name(observed)} against a regular expression"
    assert a.pattern is not None
    return None if a.pattern.search(observed[:MAX_SUBJECT]) else ""


def evaluate(assertion: Assertion, facts: Mapping[str, Any]) -> Outcome:
    """How `assertion` fares against `facts` (fact name -> JSON-like value, or
    `Unavailable` for a fact the probe could not establish)."""
    observed = _lookup(facts, assertion)
    if isinstance(observed, Unavailable):
        return Outcome(assertion=assertion.text, ok=False, reason=observed.reason)
    if observed is _MISSING:
        return Outcome(assertion=assertion.text, ok=False, reason=f"{assertion.path} is missing")
    reason = _compare(assertion.operator, observed, assertion.value, assertion)
    return Outcome(
        assertion=assertion.text,
        ok=reason is None,
        observed=bounded(observed),
        reason=reason or None,
    )


def judge(texts: Sequence[str], facts: Mapping[str, Any]) -> list[Outcome]:
    """Every (valid) assertion of a monitor against what its probe observed, in order."""
    return [evaluate(parse(text), facts) for text in texts]


def failure_message(outcomes: Sequence[Outcome]) -> str | None:
    """The error of a result whose assertions failed: the first failure, and how many more."""
    failed = [o for o in outcomes if not o.ok]
    if not failed:
        return None
    first = failed[0]
    if first.reason is not None:
        message = f"assertion {first.assertion} failed: {first.reason}"
    else:
        observed = msgspec.json.encode(first.observed).decode()
        message = f"assertion {first.assertion} failed: observed {observed}"
    if len(failed) > 1:
        message += f" (and {len(failed) - 1} more)"
    return message


def outcomes_details(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """Outcomes as plain data for `Observation.details["assertions"]`."""
    return [msgspec.to_builtins(o) for o in outcomes]
