"""Parameters: binding as literals (never pasted), positions mapped back, types inferred
from the policy schema when the client sends none."""

from __future__ import annotations

import datetime

import pytest

from dpproxy.errors import QueryRejected
from dpproxy.policy.catalog import Catalog
from dpproxy.server import types
from dpproxy.server.params import bind, infer_types, literal, placeholders
from dpproxy.server.types import InvalidParameterValue, decode_param


def test_placeholders_ignore_strings_and_comments() -> None:
    sql = "SELECT '$1', $2 -- $3\n FROM t WHERE x = $1 /* $4 */"
    assert [p.index for p in placeholders(sql)] == [2, 1]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "NULL"),
        (True, "TRUE"),
        (42, "42"),
        (-3, "(-3)"),
        (0.25, "0.25"),
        ("O'Hare", "'O''Hare'"),
        ("a\\", "'a\\'"),
        (datetime.date(2024, 2, 29), "CAST('2024-02-29' AS DATE)"),
        (datetime.datetime(2024, 1, 1, 8, 30), "CAST('2024-01-01 08:30:00' AS TIMESTAMP)"),
    ],
)
def test_literals(value: object, text: str) -> None:
    assert literal(value) == text


def test_bad_values() -> None:
    for value in (float("nan"), "nul\x00", b"bytes"):
        with pytest.raises(InvalidParameterValue):
            literal(value)


def test_bind_and_positions() -> None:
    sql = "SELECT COUNT(*) FROM t WHERE a = $1 AND b = $2 AND MAX(c) > 0"
    bound = bind(sql, ["a much longer value", 7])
    assert bound.sql == (
        "SELECT COUNT(*) FROM t WHERE a = 'a much longer value' AND b = 7 AND MAX(c) > 0"
    )
    at = bound.sql.index("MAX") + 1
    assert sql[bound.original_position(at) - 1 :].startswith("MAX")
    assert bound.original_position(bound.sql.index("'a much") + 5) == sql.index("$1") + 1
    with pytest.raises(QueryRejected):
        bind(sql, ["only one"])


def test_inference_from_the_policy(catalog: Catalog) -> None:
    sql = ("SELECT COUNT(*) FROM members m JOIN purchases p ON m.loyalty_number = p.loyalty_number"
           " WHERE m.city = $1 AND age BETWEEN $2 AND 60 AND p.ts >= $3 AND amount IN ($4) "
           "AND $5::date IS NOT NULL AND $6 LIMIT $7")  # fmt: skip
    assert infer_types(sql, (), catalog) == (25, 20, 1114, 701, 1082, 25, 20)
    assert infer_types(sql, (23,), catalog)[0] == 23  # a declared type wins


def test_decode_params() -> None:
    assert decode_param(types.INT8.oid, 1, (5).to_bytes(8, "big")) == 5
    assert decode_param(types.FLOAT8.oid, 0, b"2.5") == 2.5
    assert decode_param(types.BOOL.oid, 0, b"on") is True
    assert decode_param(types.DATE.oid, 1, (1).to_bytes(4, "big")) == datetime.date(2000, 1, 2)
    assert decode_param(types.TEXT.oid, 0, None) is None
    with pytest.raises(InvalidParameterValue):
        decode_param(types.INT4.oid, 0, b"seven")
    with pytest.raises(InvalidParameterValue):
        decode_param(types.FLOAT8.oid, 0, b"NaN")
