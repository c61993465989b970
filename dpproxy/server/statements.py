"""What a client's statement is, before anything runs: kinds, splitting, prepared state.

A query string is split into statements on top-level semicolons (by the tokenizer, so
semicolons in strings and comments do not count). Each statement is one of:

* ``EMPTY``: only whitespace and comments;
* ``SESSION``: SET, SHOW, BEGIN, ... (``chatter``);
* ``CATALOG``: names a system-catalog relation or no relation (``catalog``);
* ``EXPLAIN``: the dry-run price of a DP query;
* ``QUERY``: everything else that starts like a query: the DP pipeline decides.

>>> [(s.offset, s.text) for s in split("SET a = 1; SELECT ';'")]
[(0, 'SET a = 1'), (10, " SELECT ';'")]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from sqlglot import exp
from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import TokenType

from dpproxy.errors import QueryRejected
from dpproxy.parse import DIALECT
from dpproxy.server import catalog, chatter
from dpproxy.server.errors import ServerError
from dpproxy.server.params import BoundSQL
from dpproxy.server.results import Column, Outcome
from dpproxy.sqlstate import SQLState


class Kind(Enum):
    EMPTY = "empty"
    SESSION = "session"
    CATALOG = "catalog"
    EXPLAIN = "explain"
    QUERY = "query"


def _unsupported(message: str) -> ServerError:
    return ServerError(SQLState.READ_ONLY_SQL_TRANSACTION, message)  # read_only_sql_transaction


_QUERY_WORDS = ("SELECT", "WITH", "VALUES", "TABLE")
_EXPLAIN = re.compile(
    r"^\s*EXPLAIN\b\s*(?:\((?P<options>[^)]*)\))?\s*(?P<words>(?:(?:ANALYZE|ANALYSE|VERBOSE)\s+)*)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Piece:
    offset: int  # where the statement starts in the client's query string
    text: str


def split(sql: str) -> list[Piece]:
    """Statements of a simple-protocol query string, in order; empty ones dropped."""
    try:
        tokens = DIALECT.tokenize(sql)
    except TokenError:
        return [Piece(0, sql)]  # one statement: its error is reported when it runs
    pieces, start = [], 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            pieces.append(Piece(start, sql[start : token.start]))
            start = token.end + 1
    pieces.append(Piece(start, sql[start:]))
    return [p for p in pieces if not catalog.empty(p.text)] or [Piece(0, "")]


def classify(sql: str) -> Kind:
    if catalog.empty(sql):
        return Kind.EMPTY
    word = catalog.first_keyword(sql)
    if chatter.is_session_statement(word):
        return Kind.SESSION
    if word == "EXPLAIN":
        return Kind.EXPLAIN
    if word not in _QUERY_WORDS:
        raise _unsupported(
            f"dpproxy answers SELECT queries only; {word or 'this statement'} is not supported"
        )
    try:
        tree = catalog.parse(sql)
    except QueryRejected:
        return Kind.QUERY  # the pipeline reports the syntax error with its position
    return Kind.CATALOG if catalog.is_catalog_query(tree) else Kind.QUERY


@dataclass(frozen=True)
class ExplainRequest:
    inner_offset: int
    inner: str
    json: bool


def explain_request(sql: str) -> ExplainRequest:
    match = _EXPLAIN.match(sql)
    if match is None:
        raise _unsupported("malformed EXPLAIN")
    options = (match.group("options") or "").upper()
    words = match.group("words").upper()
    if "ANALY" in words or re.search(r"\bANALY[SZ]E\b(?!\s+(FALSE|OFF))", options):
        raise _unsupported("EXPLAIN ANALYZE would run the query: run the query itself instead")
    as_json = re.search(r"\bFORMAT\s+JSON\b", options) is not None
    inner = sql[match.end() :]
    if catalog.first_keyword(inner) not in _QUERY_WORDS:
        raise _unsupported("EXPLAIN is available for SELECT queries only")
    return ExplainRequest(match.end(), inner, as_json)


@dataclass
class Statement:
    """A prepared statement (named, or the unnamed one)."""

    sql: str
    kind: Kind
    param_types: tuple[int, ...]
    columns: tuple[Column, ...] | None = None  # known once described
    described: bool = False


@dataclass
class Portal:
    """A bound statement, ready to execute; executes once, then hands out its rows."""

    statement: Statement
    bound: BoundSQL
    result_formats: tuple[int, ...]
    columns: tuple[Column, ...] | None = None
    described: bool = False
    outcome: Outcome | None = None
    sent: int = 0
    done: bool = False
    notices_sent: bool = field(default=False)


def tree_of(sql: str) -> exp.Expr:
    return catalog.parse(sql)
