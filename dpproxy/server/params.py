"""Query parameters (``$1``, ``$2``, ...): their types, and binding them as SQL literals.

The checker accepts no parameters, so a bound statement is turned into plain SQL before
it reaches ``Session.query``: each ``$n`` token is replaced by the text of a sqlglot
literal node (quoted and escaped by sqlglot's generator, never by pasting the value).
Clients that send no parameter types (asyncpg, psycopg for ``str``) get them inferred
from the policy schema: ``city = $1`` takes the type of ``members.city``; a parameter
whose type does not follow from a column, a cast or a LIMIT is text, as PostgreSQL
resolves an untyped literal.

>>> bound = bind("SELECT COUNT(*) FROM members WHERE city = $1", ["O'Hare"])
>>> bound.sql
"SELECT COUNT(*) FROM members WHERE city = 'O''Hare'"
>>> bound.original_position(44)  # inside the literal: where the client wrote $1
43
"""

from __future__ import annotations

import datetime
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import TokenType

from dpproxy.errors import InternalError, QueryRejected, Violation
from dpproxy.parse import DIALECT
from dpproxy.policy.catalog import Catalog
from dpproxy.policy.model import Role
from dpproxy.server import types
from dpproxy.server.types import InvalidParameterValue
from dpproxy.sqlstate import SQLState

MAX_PARAMETERS = 65_535


@dataclass(frozen=True)
class Placeholder:
    index: int  # 1-based, as written
    start: int  # character span of ``$n`` in the query text
    end: int  # exclusive


def placeholders(sql: str) -> tuple[Placeholder, ...]:
    """Every ``$n`` in ``sql`` (outside strings and comments), from the tokenizer."""
    try:
        tokens = DIALECT.tokenize(sql)
    except TokenError:
        return ()  # the query is rejected with its position when it is parsed
    found = []
    for token, following in itertools.pairwise(tokens):
        if (
            token.token_type == TokenType.PARAMETER
            and following.token_type == TokenType.NUMBER
            and following.start == token.end + 1
            and following.text.isdigit()
        ):
            index = int(following.text)
            if not 1 <= index <= MAX_PARAMETERS:
                raise QueryRejected(
                    [
                        Violation(
                            SQLState.UNDEFINED_PARAMETER,
                            f"${following.text}",
                            "there is no such parameter",
                            offset=token.start,
                        )
                    ]
                )
            found.append(Placeholder(index, token.start, following.end + 1))
    return tuple(found)


@dataclass(frozen=True)
class BoundSQL:
    """SQL with literals in place of its parameters, and how to map positions back."""

    sql: str
    spans: tuple[tuple[int, int, int, int], ...] = ()  # bound start/end, original start/end

    def original_position(self, position: int) -> int:
        """A 1-based position in ``sql`` as a position in the text the client sent."""
        index, delta = position - 1, 0
        for bound_start, bound_end, original_start, original_end in self.spans:
            if index < bound_start:
                break
            if index < bound_end:
                return original_start + 1
            delta = original_end - bound_end
        return index + delta + 1


def bind(sql: str, values: Sequence[Any]) -> BoundSQL:
    """Replace each ``$n`` of ``sql`` with ``values[n - 1]`` as a SQL literal."""
    parts: list[str] = []
    spans: list[tuple[int, int, int, int]] = []
    cursor = length = 0
    for ph in placeholders(sql):
        if ph.index > len(values):
            raise QueryRejected(
                [
                    Violation(
                        SQLState.PROTOCOL_VIOLATION,
                        f"${ph.index}",
                        "no value was bound for this parameter",
                        offset=ph.start,
                    )
                ]
            )
        text = literal(values[ph.index - 1])
        parts.append(sql[cursor : ph.start])
        length += ph.start - cursor
        spans.append((length, length + len(text), ph.start, ph.end))
        parts.append(text)
        length += len(text)
        cursor = ph.end
    parts.append(sql[cursor:])
    return BoundSQL("".join(parts), tuple(spans))


def literal(value: Any) -> str:
    """One value as SQL text generated from a sqlglot literal node."""
    node: exp.Expr
    if value is None:
        node = exp.Null()
    elif isinstance(value, bool):
        node = exp.Boolean(this=value)
    elif isinstance(value, int):
        node = exp.Literal.number(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidParameterValue("a parameter must be a finite number")
        node = exp.Literal.number(repr(value))
    elif isinstance(value, datetime.datetime):
        node = exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    elif isinstance(value, datetime.date):
        node = exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    elif isinstance(value, str):
        if "\x00" in value:
            raise InvalidParameterValue("a text parameter cannot contain a NUL character")
        node = exp.Literal.string(value)
    else:
        raise InvalidParameterValue(f"parameters of type {type(value).__name__} are not supported")
    text = node.sql(dialect="postgres")
    if isinstance(value, str):
        _check_round_trip(text, value)
    return f"({text})" if text.startswith("-") else text


def _check_round_trip(text: str, value: str) -> None:
    """The generated literal must read back as one string token holding ``value``."""
    tokens = DIALECT.tokenize(text)
    if len(tokens) != 1 or tokens[0].token_type != TokenType.STRING or tokens[0].text != value:
        raise InternalError("a text parameter did not survive quoting")


# ---------------------------------------------------------------------------------------
# Type inference


def infer_types(sql: str, declared: Sequence[int], catalog: Catalog) -> tuple[int, ...]:
    """The type OID of every parameter: as declared by the client, else from context."""
    found = placeholders(sql)
    count = max([p.index for p in found] + [len(declared)], default=0)
    oids = [declared[i] if i < len(declared) else 0 for i in range(count)]
    if all(oids):
        return tuple(oids)
    inferred = _from_context(sql, catalog)
    return tuple(o or inferred.get(i + 1, types.TEXT.oid) for i, o in enumerate(oids))


def _from_context(sql: str, catalog: Catalog) -> dict[int, int]:
    try:
        tree = sqlglot.parse_one(sql, read=DIALECT)
    except (ParseError, TokenError, RecursionError):
        return {}  # the statement is rejected with its position when it runs
    columns = _visible_columns(tree, catalog)
    found: dict[int, int] = {}
    for node in tree.find_all(exp.Parameter):
        if not node.name.isdigit():
            continue
        oid = _context_type(node, columns)
        if oid is not None:
            found.setdefault(int(node.name), oid)
    return found


def _visible_columns(tree: exp.Expr, catalog: Catalog) -> dict[tuple[str, str], str]:
    """(qualifier or "", column) -> DuckDB type, for the tables the query names."""
    columns: dict[tuple[str, str], str] = {}
    unqualified: dict[str, set[str]] = {}
    for table in tree.find_all(exp.Table):
        info = catalog.tables.get(table.name)
        if info is None:
            continue
        alias = table.alias_or_name
        for name, column in info.columns.items():
            if column.has(Role.HIDDEN):
                continue
            columns[(alias, name)] = column.sql_type
            unqualified.setdefault(name, set()).add(column.sql_type)
    for name, kinds in unqualified.items():
        if len(kinds) == 1:
            columns[("", name)] = next(iter(kinds))
    return columns


def _context_type(node: exp.Expr, columns: dict[tuple[str, str], str]) -> int | None:
    parent = node.parent
    while isinstance(parent, exp.Paren | exp.Neg):
        node, parent = parent, parent.parent
    if isinstance(parent, exp.Cast):
        return types.pg_type(parent.to.sql(dialect="duckdb")).oid
    if isinstance(parent, exp.Limit | exp.Offset | exp.Fetch):
        return types.INT8.oid
    if isinstance(parent, exp.In | exp.Between):
        return _type_of(parent.this, columns)
    if isinstance(parent, exp.Binary):
        other = parent.expression if node is parent.this else parent.this
        return _type_of(other, columns)
    return None


def _type_of(node: exp.Expr, columns: dict[tuple[str, str], str]) -> int | None:
    if isinstance(node, exp.Column):
        sql_type = columns.get((node.table, node.name))
        return None if sql_type is None else types.pg_type(sql_type).oid
    if isinstance(node, exp.Cast):
        return types.pg_type(node.to.sql(dialect="duckdb")).oid
    if isinstance(node, exp.Literal):
        return types.TEXT.oid if node.is_string else types.FLOAT8.oid
    return None
