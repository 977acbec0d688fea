"""The job filter language: ``learning_rate < 0.01 and (status = 'succeeded' or tag = 'x')``.

One language for ``GET /jobs?filter=``, ``client.jobs(filter=...)``, ``tfjobs list
--filter`` and the dashboard's search box. This module parses a filter into a small tree
of :class:`Compare`, :class:`And`, :class:`Or` and :class:`Not` and checks every field
and value against what the field holds; ``app/store/filters.py`` turns the tree into SQL
(bound parameters only: a value is never pasted into a statement).

The grammar is lark's (LALR, so a parse is linear and an error names its column); a
hand-written parser would have to re-derive those error positions.

>>> tree = parse("metrics.val_loss < 0.3 and not tag = 'old'")
>>> [type(item).__name__ for item in tree.items], tree.items[0].op, tree.items[1].item.value
(['Compare', 'Not'], '<', 'old')
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Literal, cast

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedInput, UnexpectedToken, v_args
from lark.exceptions import UnexpectedEOF, VisitError

from tfcore.spec import JobSpec
from tfjobs import JobStatus

__all__ = ["And", "Compare", "Field", "FilterError", "MAX_FILTER_LENGTH", "Not", "Or", "Value", "parse"]

MAX_FILTER_LENGTH = 1000
MAX_TERMS = 50  # comparisons in one filter: each is a condition on every row scanned

GRAMMAR = r"""
?start: disjunction
?disjunction: conjunction (_OR conjunction)*
?conjunction: negation (_AND negation)*
?negation: _NOT negation -> negate
         | "(" disjunction ")"
         | comparison
comparison: FIELD OP value
?value: STRING -> string
      | NUMBER -> number
      | NULL -> null
      | TRUE -> true
      | FALSE -> false

_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
NULL.2: /null\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
FIELD: /[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?/
OP: "<=" | ">=" | "!=" | "=" | "<" | ">" | "~"
STRING: /'(?:[^'\\]|\\.|'')*'/
NUMBER: /[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/

%import common.WS
%ignore WS
"""

Op = Literal["=", "!=", "<", "<=", ">", ">=", "~"]
Value = str | float | bool | datetime | None
FieldKind = Literal["spec", "metric", "status", "name", "tag", "sweep", "created", "id"]
ValueType = Literal["number", "string", "boolean", "time", "other"]

#: Words that are fields of every job rather than of its spec.
JOB_FIELDS: dict[str, tuple[FieldKind, ValueType]] = {
    "status": ("status", "string"),
    "name": ("name", "string"),
    "tag": ("tag", "string"),
    "sweep": ("sweep", "string"),
    "created": ("created", "time"),
    "id": ("id", "string"),
}


class FilterError(ValueError):
    """A filter that does not parse or does not fit its fields; says where (1-based column)."""

    def __init__(self, column: int, message: str) -> None:
        super().__init__(f"column {column}: {message}")
        self.column = column


@dataclass(frozen=True)
class Field:
    kind: FieldKind
    name: str  # the spec field, the metric's name, or the job field's word
    type: ValueType  # what the field holds: decides which comparisons make sense
    column: int


@dataclass(frozen=True)
class Compare:
    field: Field
    op: Op
    value: Value


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | And | Or | Not


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", propagate_positions=False, maybe_placeholders=False)


@cache
def spec_types() -> dict[str, ValueType]:
    """Each JobSpec field and what it holds, read from the published schema (so a new
    field is searchable the day it is declared)."""
    properties = JobSpec.model_json_schema()["properties"]
    types: dict[str, ValueType] = {}
    for name, schema in properties.items():
        found = {s.get("type") for s in schema.get("anyOf", [schema])} - {"null", None}
        if schema.get("enum") or "$ref" in schema:
            found.add("string" if all(isinstance(v, str) for v in schema.get("enum", [""])) else "other")
        types[name] = (
            "number"
            if found and found <= {"number", "integer"}
            else "string"
            if found == {"string"}
            else "boolean"
            if found == {"boolean"}
            else "other"
        )
    return types


def _describe(expected: set[str], before: str) -> str:
    """Lark's terminal names as words a user knows; ``before``: the text up to the error
    (LALR merges states, so it offers ')' even where no parenthesis is open)."""
    unquoted = re.sub(r"'(?:[^'\\]|\\.|'')*'", "", before)
    if unquoted.count("(") <= unquoted.count(")"):
        expected = expected - {"RPAR"}
    words = {
        "STRING": "a value",
        "NUMBER": "a value",
        "NULL": "a value",
        "TRUE": "a value",
        "FALSE": "a value",
        "FIELD": "a field",
        "OP": "a comparison (= != < <= > >= ~)",
        "LPAR": "a field",
        "_NOT": "a field",
        "RPAR": "')'",
        "_AND": "'and', 'or' or the end",
        "_OR": "'and', 'or' or the end",
        "$END": "the end",
    }
    named = sorted({words.get(name, name.lower()) for name in expected})
    if "'and', 'or' or the end" in named:
        named = [w for w in named if w != "the end"]
    return " or ".join(named) or "something else"


@v_args(inline=True)
class _ToTree(Transformer[Token, "Node"]):
    def __init__(self) -> None:
        super().__init__()
        self.terms = 0

    def string(self, token: Token) -> str:
        body = str(token)[1:-1]
        return body.replace("''", "'").replace("\\'", "'").replace("\\\\", "\\")

    def number(self, token: Token) -> float:
        return float(token)

    def null(self, _token: Token) -> None:
        return None

    def true(self, _token: Token) -> bool:
        return True

    def false(self, _token: Token) -> bool:
        return False

    def negate(self, item: Node) -> Node:
        return Not(item)

    def disjunction(self, *items: Node) -> Node:
        return Or(tuple(items))

    def conjunction(self, *items: Node) -> Node:
        return And(tuple(items))

    def comparison(self, field_token: Token, op_token: Token, value: Value) -> Node:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise FilterError(field_token.column or 1, f"at most {MAX_TERMS} comparisons in one filter")
        field = _field(str(field_token), field_token.column or 1)
        return Compare(
            field, _check(field, str(op_token), value, op_token.column or 1), _coerce(field, value)
        )


def _field(word: str, column: int) -> Field:
    spec = spec_types()
    if word.startswith("metrics."):
        return Field("metric", word.removeprefix("metrics."), "number", column)
    if word in JOB_FIELDS:
        kind, value_type = JOB_FIELDS[word]
        return Field(kind, word, value_type, column)
    if word in spec and "." not in word:
        return Field("spec", word, spec[word], column)
    known = [*JOB_FIELDS, *spec]
    close = difflib.get_close_matches(word, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise FilterError(
        column, f"unknown field '{word}'{hint}: use a spec field, metrics.NAME, {', '.join(JOB_FIELDS)}"
    )


def _check(field: Field, word: str, value: Value, column: int) -> Op:
    op = cast(Op, word)  # the grammar's OP terminal is exactly these
    where = f"'{field.name if field.kind != 'metric' else 'metrics.' + field.name}'"
    if field.type == "other":
        raise FilterError(field.column, f"{where} holds a structure: filter on a field with one value")
    if value is None:
        if op not in ("=", "!="):
            raise FilterError(column, "null compares only with = or !=")
        return op
    if op == "~":
        if not isinstance(value, str) or field.type not in ("string",):
            raise FilterError(
                column, f"'~' (contains) needs a string field and a quoted value; {where} is a {field.type}"
            )
        return op
    expected = {"number": float, "string": str, "boolean": bool, "time": str}[field.type]
    if not isinstance(value, expected) or (expected is float and isinstance(value, bool)):
        shown = "a quoted string" if field.type in ("string", "time") else f"a {field.type}"
        raise FilterError(column + len(op) + 1, f"{where} is compared with {shown}")
    if field.kind == "status" and op in ("=", "!=") and value not in {s.value for s in JobStatus}:
        raise FilterError(column + len(op) + 1, f"status is one of {', '.join(s.value for s in JobStatus)}")
    if field.type == "boolean" and op not in ("=", "!="):
        raise FilterError(column, f"{where} is true or false: compare it with = or !=")
    if field.kind == "tag" and op not in ("=", "!="):
        raise FilterError(column, "tag takes = (has the tag), != (has not) or ~ (a tag contains)")
    return op


def _coerce(field: Field, value: Value) -> Value:
    if field.type == "time" and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FilterError(
                field.column, f"'{value}' is not a date: write '2026-12-01' or '2026-12-01T09:30'"
            ) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return value


def parse(text: str) -> Node:
    """The filter's tree, or :class:`FilterError` naming the column and what was expected."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(MAX_FILTER_LENGTH + 1, f"a filter is at most {MAX_FILTER_LENGTH} characters")
    if not text.strip():
        raise FilterError(1, "the filter is empty")
    try:
        tree = _parser().parse(text)
        return _ToTree().transform(tree)
    except VisitError as err:
        if isinstance(err.orig_exc, FilterError):
            raise err.orig_exc from None
        raise
    except UnexpectedEOF as err:
        raise FilterError(len(text) + 1, f"expected {_describe(set(err.expected), text)}") from None
    except UnexpectedToken as err:
        if err.token.type == "$END":
            raise FilterError(len(text) + 1, f"expected {_describe(set(err.expected), text)}") from None
        before = text[: err.token.start_pos or 0]
        raise FilterError(
            err.column, f"expected {_describe(set(err.expected), before)}, found '{err.token}'"
        ) from None
    except UnexpectedCharacters as err:
        at = err.pos_in_stream or 0
        found = text[at] if at < len(text) else ""
        what = "an unclosed string (strings are in single quotes)" if found == "'" else f"'{found}'"
        hint = "; strings are in single quotes" if found == '"' else ""
        raise FilterError(err.column, f"unexpected {what}{hint}") from None
    except UnexpectedInput as err:  # pragma: no cover - lark's other parse errors
        raise FilterError(getattr(err, "column", 1) or 1, "cannot read the filter here") from None
