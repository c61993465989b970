"""The Spark dialect without Spark: what ``total`` maps, and what it refuses (0A000,
before anything runs) rather than guess."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlglot import exp, parse_one

from dpproxy.engine.spark_dialect import SparkDialect
from dpproxy.errors import InternalError, QueryRejected
from dpproxy.policy.model import EngineKind, EnginePolicy

SCHEMA = {"t": {"a": "BIGINT", "b": "DOUBLE", "c": "VARCHAR", "ts": "TIMESTAMP"}}
DIALECT = SparkDialect(SCHEMA)


def _total(sql: str) -> str:
    return DIALECT.generate(DIALECT.total(parse_one(sql, read="duckdb"))).replace("\n", " ")


@pytest.mark.parametrize(
    ("sql", "spark"),
    [
        ("a + b * 2", "TRY_ADD(a, TRY_MULTIPLY(b, 2))"),
        ("a - b / a % 3", "TRY_SUBTRACT(a, TRY_MOD(TRY_DIVIDE(b, a), 3))"),
        ("a // 3", "CASE WHEN 3 = -1 THEN TRY_MULTIPLY(a, -1) ELSE a DIV NULLIF(3, 0) END"),
        ("CAST(b AS BIGINT)", "TRY_CAST(ROUND(b) AS BIGINT)"),
        ("CAST(c AS BIGINT)", "TRY_CAST(c AS BIGINT)"),
        ("CAST(a AS TEXT)", "TRY_CAST(a AS STRING)"),
        ("EXTRACT(DOW FROM ts)", "DAYOFWEEK(ts) - 1"),
        ("EXTRACT(ISODOW FROM ts)", "WEEKDAY(ts) + 1"),
        ("-a", "TRY_MULTIPLY(a, -1)"),
        ("TRUNC(b / 3)", "TRY_DIVIDE(b, 3) - TRY_MOD(TRY_DIVIDE(b, 3), 1)"),
    ],
)
def test_every_operation_is_guarded(sql: str, spark: str) -> None:
    assert _total(sql) == spark


@pytest.mark.parametrize(
    "sql",
    [
        "CAST(b AS TEXT)",  # 1e+20 vs 1.0E20
        "EXTRACT(EPOCH FROM ts)",
        "EXTRACT(SECOND FROM ts)",  # a DECIMAL(8,6) in Spark
        "substring(c, 0, 2)",
        "substring(c, a, 2)",
        "c > 1",  # ANSI implicit cast raises on 'abc'
        "c + 1",
        "c IN (1, 2)",
        "floor(b)",  # BIGINT in Spark, raises past its range
        "c LIKE 'a\\'",  # Spark's escape character at the end raises
        "c LIKE c",
        "concat(c, b)",
        "round(b, a)",
        "md5(c)",  # not in the list: unknown means refused
    ],
)
def test_what_cannot_be_proven_is_refused(sql: str) -> None:
    with pytest.raises(QueryRejected) as refused:
        DIALECT.total(parse_one(sql, read="duckdb"))
    assert refused.value.sqlstate == "0A000"


def test_generate_never_drops_a_try() -> None:
    with pytest.raises(InternalError):
        DIALECT.generate(exp.Try(this=exp.column("a")))
    with pytest.raises(InternalError):
        DIALECT.generate(exp.TryCast(this=exp.column("a"), to=exp.DataType.build("INT")))


def test_accumulator_is_exact() -> None:
    assert DIALECT.accumulator.sql("spark") == "DECIMAL(38, 0)"


@pytest.mark.parametrize(
    "engine",
    [
        {"kind": "spark"},  # no remote
        {"kind": "duckdb", "remote": "sc://h:15002"},
        {"kind": "spark", "remote": "local[2]", "token": "t"},  # a token only to sc://
        {"kind": "spark", "remote": "sc://h:15002", "token": "a;use_ssl=false"},
        {"kind": "spark", "remote": "sc://h:15002/;token=x"},
    ],
)
def test_engine_config_is_validated(engine: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        EnginePolicy.model_validate(engine)


def test_engine_config_defaults_to_duckdb() -> None:
    assert EnginePolicy().kind is EngineKind.DUCKDB
    config = {"kind": "spark", "remote": "sc://h:15002", "token": "s3cr3t-token"}
    assert "s3cr3t" not in repr(EnginePolicy.model_validate(config))
