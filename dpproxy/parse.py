"""Stage 1, parse: query text to a sqlglot AST, or a rejection with a position.

The analyst's dialect is PostgreSQL (what clients speak). Checks at the token level come
first because the parser is lenient in ways we must not be: DuckDB's ``FROM t`` without
SELECT parses as ``SELECT * FROM t``, and several statements parse one after another.
A parse error or a RecursionError is a rejection, never a reason to run the text as is.
"""

from __future__ import annotations

from sqlglot import Dialect, exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from dpproxy.errors import QueryLimitExceeded, QueryRejected, Violation
from dpproxy.sqlstate import SQLState

DIALECT = Dialect.get_or_raise("postgres")
MAX_DEPTH = 60  # nesting depth of the AST; sqlglot's own recursion limit is near 45 parentheses


def parse(sql: str, *, max_length: int = 100_000) -> exp.Select:
    """Parse one SELECT statement.

    >>> parse("SELECT COUNT(*) FROM members").sql()
    'SELECT COUNT(*) FROM members'
    """
    if len(sql) > max_length:
        raise QueryLimitExceeded(
            f"query text is {len(sql)} characters long; the limit is {max_length}"
        )
    tokens = _tokenize(sql)
    tokens = _single_statement(tokens, sql)
    try:
        trees = DIALECT.parser().parse(tokens, sql)
    except ParseError as exc:
        raise QueryRejected([_syntax_violation(exc, sql)]) from None
    except RecursionError:
        raise QueryRejected(
            [Violation(SQLState.STATEMENT_TOO_COMPLEX, "query", "statement is nested too deeply")]
        ) from None
    if len(trees) != 1 or not isinstance(trees[0], exp.Select):
        first = tokens[0]
        raise QueryRejected(
            [_at(first, sql, SQLState.SYNTAX_ERROR, "only a single SELECT statement is accepted")]
        )
    tree = trees[0]
    if _depth(tree) > MAX_DEPTH:
        raise QueryRejected(
            [
                Violation(
                    SQLState.STATEMENT_TOO_COMPLEX,
                    "query",
                    f"statement is nested more than {MAX_DEPTH} levels deep",
                )
            ]
        )
    for node in tree.walk():
        node.comments = None
    return tree


def _tokenize(sql: str) -> list[Token]:
    try:
        tokens = DIALECT.tokenize(sql)
    except TokenError as exc:
        raise QueryRejected(
            [Violation(SQLState.SYNTAX_ERROR, "query", f"cannot tokenize: {exc}")]
        ) from None
    if not tokens:
        raise QueryRejected([Violation(SQLState.SYNTAX_ERROR, "query", "empty query")])
    return tokens


def _single_statement(tokens: list[Token], sql: str) -> list[Token]:
    """Exactly one statement, starting with SELECT, at most one trailing semicolon."""
    while tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        if len(tokens) > 1 and tokens[-2].token_type == TokenType.SEMICOLON:
            raise QueryRejected(
                [_at(tokens[-1], sql, SQLState.SYNTAX_ERROR, "empty statement after ';'")]
            )
        tokens = tokens[:-1]
    if not tokens:
        raise QueryRejected([Violation(SQLState.SYNTAX_ERROR, "query", "empty query")])
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            raise QueryRejected(
                [_at(token, sql, SQLState.SYNTAX_ERROR, "multiple statements are not accepted")]
            )
    if tokens[0].token_type != TokenType.SELECT:
        raise QueryRejected(
            [_at(tokens[0], sql, SQLState.SYNTAX_ERROR, "only a SELECT statement is accepted")]
        )
    return tokens


def _at(token: Token, sql: str, sqlstate: str, reason: str) -> Violation:
    text = sql[token.start : token.end + 1] or token.text
    col = token.col - (token.end - token.start)  # sqlglot's token column is its last character
    return Violation(sqlstate, repr(text[:40]), reason, token.line, col, token.start)


def _syntax_violation(exc: ParseError, sql: str) -> Violation:
    if exc.errors:
        error = exc.errors[0]
        description = str(error.get("description") or "syntax error")
        line, col = error.get("line"), error.get("col")
        offset = _offset(sql, line, col) if line and col else None
        return Violation(SQLState.SYNTAX_ERROR, "syntax", description, line, col, offset)
    return Violation(SQLState.SYNTAX_ERROR, "syntax", str(exc).splitlines()[0])


def _offset(sql: str, line: int, col: int) -> int:
    lines = sql.split("\n")
    return sum(len(text) + 1 for text in lines[: line - 1]) + max(col - 1, 0)


def _depth(tree: exp.Expr) -> int:
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in node.iter_expressions():
            stack.append((child, depth + 1))
    return deepest


def position(node: exp.Expr) -> tuple[int, int, int] | None:
    """(line, column, 0-based offset) of the leftmost token inside ``node``."""
    best: dict[str, int] | None = None
    for sub in node.walk():
        meta = sub.meta
        if "start" in meta and (best is None or meta["start"] < best["start"]):
            best = meta
    if best is None:
        return None
    return best["line"], best["col"] - (best["end"] - best["start"]), best["start"]


def violation(node: exp.Expr, sqlstate: str, reason: str) -> Violation:
    """A violation pointing at ``node``: its SQL text (from the query) and position."""
    text = node.sql(dialect="postgres", comments=False)
    construct = text if len(text) <= 60 else text[:57] + "..."
    where = position(node)
    if where is None:
        return Violation(sqlstate, construct, reason)
    return Violation(sqlstate, construct, reason, where[0], where[1], where[2])
