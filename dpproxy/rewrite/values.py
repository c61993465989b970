"""Pass helpers: turn checked expressions into total DuckDB expressions.

* A measure on a value path becomes its NULL-preserving clamp to the declared bounds,
  in DOUBLE (``MeasureRef`` -> ``CASE WHEN c IS NULL THEN NULL ELSE LEAST(GREATEST(..))``).
* Integer division on a value path becomes ``TRUNC(a / b)`` in DOUBLE; elsewhere it is
  DuckDB's ``//`` (which truncates like PostgreSQL).
* Every expression is wrapped in ``TRY(...)``: a row whose evaluation fails gives NULL
  instead of an error, so no error can depend on one row (the error channel is closed).
* A group key is cast to its result type, and dates beyond Python's range become NULL,
  so converting the engine's rows to Python cannot fail on one row's value.
* A value becomes an integer on its fixed-point grid, clamped again as an integer.
"""

from __future__ import annotations

import functools
from fractions import Fraction

from sqlglot import exp

from dpproxy.check.aggregates import MeasureRef
from dpproxy.check.checked import CheckedQuery
from dpproxy.errors import InternalError
from dpproxy.plan import Grid
from dpproxy.policy.model import PublicValue

DIALECT = "duckdb"


def sql(node: exp.Expr) -> str:
    return str(node.sql(dialect=DIALECT, comments=False))


def identifier(name: str) -> str:
    """A quoted identifier, with any quote inside it escaped: a table alias comes from the
    analyst's text and must never end the identifier early."""
    return sql(exp.to_identifier(name, quoted=True))


def total(node: exp.Expr) -> str:
    """The expression as DuckDB SQL that never raises: errors become NULL."""
    return f"TRY({sql(node)})"


# Python's dates and datetimes span the years 1 to 9999; DuckDB's span far more (and
# hold infinities), and converts the rest to text or fails: such keys become NULL here.
_IN_PYTHON_RANGE = {
    "DATE": "BETWEEN DATE '0001-01-01' AND DATE '9999-12-31'",
    "TIMESTAMP": (
        "BETWEEN TIMESTAMP '0001-01-01 00:00:00' AND TIMESTAMP '9999-12-31 23:59:59.999999'"
    ),
}


def key_value(node: exp.Expr, sql_type: str) -> str:
    """A group key as DuckDB SQL of exactly ``sql_type`` (one of the checker's result
    types) that never raises and converts to Python without fail: an error or an
    unrepresentable value is NULL."""
    value = f"TRY(CAST({sql(node)} AS {sql_type}))"
    guard = _IN_PYTHON_RANGE.get(sql_type)
    return value if guard is None else f"CASE WHEN {value} {guard} THEN {value} END"


def value_expression(node: exp.Expr, query: CheckedQuery) -> exp.Expr:
    """A checked aggregate argument with its measures clamped, computed in DOUBLE."""
    root = node.copy()
    for sub in reversed(list(root.walk())):
        replacement: exp.Expr | None = None
        if isinstance(sub, MeasureRef):
            replacement = _clamped(sub.this, query)
        elif isinstance(sub, exp.IntDiv):
            replacement = exp.func("TRUNC", exp.Div(this=sub.this, expression=sub.expression))
        if replacement is not None:
            if sub is root:
                root = replacement
            else:
                sub.replace(replacement)
    if any(isinstance(n, MeasureRef) for n in root.walk()):
        raise InternalError("a measure escaped clamping")
    return root


def _clamped(column: exp.Column, query: CheckedQuery) -> exp.Expr:
    relation = next((r for r in query.relations if r.alias == column.table), None)
    if relation is None:
        raise InternalError("a measure refers to an unknown relation")
    info = relation.table.columns[column.name]
    if info.bounds is None:
        raise InternalError("a measure has no bounds")
    lo, hi = info.bounds
    as_double = exp.cast(column.copy(), exp.DataType.Type.DOUBLE)
    clamp = exp.Least(
        this=exp.Greatest(this=as_double, expressions=[double(lo)], ignore_nulls=True),
        expressions=[double(hi)],
        ignore_nulls=True,
    )
    return exp.Case(
        ifs=[exp.If(this=exp.Is(this=column.copy(), expression=exp.Null()), true=exp.Null())],
        default=clamp,
    )


def double(value: Fraction) -> exp.Expr:
    return exp.cast(exp.Literal.number(repr(float(value))), exp.DataType.Type.DOUBLE)


def grid_value(raw: str, grid: Grid) -> str:
    """SQL for the grid integer of a raw DOUBLE value column, NULL kept as NULL.

    NaN and infinities fall to a bound (LEAST/GREATEST treat NaN as the largest value),
    so the cast to HUGEINT cannot fail.
    """
    lo, hi = sql(double(grid.value_lo)), sql(double(grid.value_hi))
    step = sql(double(grid.step))
    scaled = f"CAST(ROUND(LEAST(GREATEST({raw}, {lo}), {hi}) / {step}) AS HUGEINT)"
    clamped = f"LEAST(GREATEST({scaled}, {grid.lo}), {grid.hi})"
    return f"CASE WHEN {raw} IS NULL THEN NULL ELSE {clamped} END"


@functools.lru_cache(maxsize=65_536)
def literal(value: PublicValue, sql_type: str | None) -> str:
    """A public value as a typed SQL literal (cached: public lists repeat every query)."""
    converted = exp.convert(value)
    if sql_type is None:
        return sql(converted)
    return sql(exp.cast(converted, exp.DataType.build(sql_type, dialect=DIALECT)))
