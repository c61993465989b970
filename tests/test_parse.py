"""Parse: one SELECT statement or a rejection with a position; never a fallback."""

from __future__ import annotations

import pytest

from dpproxy.errors import QueryLimitExceeded, QueryRejected
from dpproxy.parse import MAX_DEPTH, parse


def test_select_parses_and_drops_comments() -> None:
    tree = parse("SELECT /* hi */ COUNT(*) FROM members -- bye")
    assert tree.sql() == "SELECT COUNT(*) FROM members"


@pytest.mark.parametrize(
    ("sql", "line", "col"),
    [
        ("FROM members", 1, 1),
        ("  SUMMARIZE members", 1, 3),
        ("SELECT 1;\nSELECT 2", 1, 9),
        ("SELECT 1;;", 1, 10),
    ],
)
def test_rejections_carry_positions(sql: str, line: int, col: int) -> None:
    with pytest.raises(QueryRejected) as error:
        parse(sql)
    violation = error.value.violations[0]
    assert (violation.line, violation.col) == (line, col)
    assert error.value.sqlstate == "42601"


def test_syntax_error_has_position() -> None:
    with pytest.raises(QueryRejected) as error:
        parse("SELECT COUNT(* FROM members")
    assert error.value.sqlstate == "42601"
    assert error.value.violations[0].line == 1


def test_unterminated_string() -> None:
    with pytest.raises(QueryRejected, match="cannot tokenize"):
        parse("SELECT 'abc FROM members")


@pytest.mark.parametrize("depth", [50, 200, 1000])
def test_deep_nesting_is_a_clean_rejection(depth: int) -> None:
    sql = "SELECT " + "(" * depth + "1" + ")" * depth + " FROM members"
    with pytest.raises(QueryRejected) as error:
        parse(sql)
    assert error.value.sqlstate == "54001"


def test_depth_limit_constant() -> None:
    assert MAX_DEPTH <= 60


def test_length_limit() -> None:
    with pytest.raises(QueryLimitExceeded):
        parse("SELECT COUNT(*) FROM members WHERE " + " OR ".join(["age = 1"] * 20_000))


@pytest.mark.parametrize("sql", ["", "   ", ";", "-- only a comment"])
def test_empty(sql: str) -> None:
    with pytest.raises(QueryRejected, match="empty"):
        parse(sql)
