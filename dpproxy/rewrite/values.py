"""Expression builders for the passes: checked expressions made total, clamped, gridded.

* A measure on a value path becomes its NULL-preserving clamp to the declared bounds,
  in DOUBLE (``MeasureRef`` -> ``CASE WHEN c IS NULL THEN NULL ELSE LEAST(GREATEST(..))``).
* Integer division on a value path becomes ``TRUNC(a / b)`` in DOUBLE; elsewhere it is
  the engine's truncating integer division (as PostgreSQL's).
* Every analyst expression is made total by the dialect (DuckDB: ``TRY(...)``): a row
  whose evaluation fails gives NULL instead of an error, so no error can depend on one
  row (the error channel is closed).
* A group key is cast to its result type, and dates beyond Python's range become NULL,
  so converting the engine's rows to Python cannot fail on one row's value.
* A value becomes an integer on its fixed-point grid, clamped again as an integer.

Internal names (``__pu``, ``__k0``, ...) are unquoted identifiers of our own; names from
the policy and aliases from the analyst's text are quoted identifiers, never pasted.
"""

from __future__ import annotations

import functools
from fractions import Fraction

from sqlglot import exp

from dpproxy.check.aggregates import MeasureRef
from dpproxy.check.checked import CheckedQuery
from dpproxy.engine.dialect import Dialect
from dpproxy.errors import InternalError
from dpproxy.plan import Grid
from dpproxy.policy.model import PublicValue

SOURCE_DIALECT = "duckdb"  # how checked types are written (the catalog's type names)


def col(name: str, table: str | None = None) -> exp.Column:
    """An internal column (``__pu``, ``__k0``, ...), unquoted."""
    return exp.column(name, table=table)


def num(value: int | float) -> exp.Expr:
    return exp.Literal.number(value)


def named(node: exp.Expr, name: str) -> exp.Expr:
    return exp.alias_(node, name)


def paren(node: exp.Expr) -> exp.Expr:
    """Parenthesised unless atomic: sqlglot does not add parentheses by precedence."""
    return node if isinstance(node, exp.Column | exp.Literal | exp.Paren) else exp.Paren(this=node)


def identifier(name: str) -> exp.Identifier:
    """A quoted identifier: a table alias comes from the analyst's text, and quoting
    (with any quote inside escaped) keeps it an identifier."""
    return exp.to_identifier(name, quoted=True)


def table(name: str, alias: str) -> exp.Table:
    return exp.Table(this=identifier(name), alias=exp.TableAlias(this=identifier(alias)))


def key_value(node: exp.Expr, sql_type: str, dialect: Dialect) -> exp.Expr:
    """A group key of exactly ``sql_type`` (one of the checker's result types) that never
    raises and converts to Python without fail: an error or an unrepresentable value is
    NULL. Python's dates span the years 1 to 9999; DuckDB's far more (and infinities)."""
    value = dialect.total(exp.cast(node.copy(), _type(sql_type)))
    bounds = _PYTHON_RANGE.get(sql_type)
    if bounds is None:
        return value
    low, high = (exp.cast(exp.Literal.string(b), _type(sql_type)) for b in bounds)
    inside = exp.Between(this=value, low=low, high=high)
    return exp.Case(ifs=[exp.If(this=inside, true=value.copy())])


_PYTHON_RANGE = {
    "DATE": ("0001-01-01", "9999-12-31"),
    "TIMESTAMP": ("0001-01-01 00:00:00", "9999-12-31 23:59:59.999999"),
}


def _type(sql_type: str) -> exp.DataType:
    return exp.DataType.build(sql_type, dialect=SOURCE_DIALECT)


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
    return _null_or(column.copy(), _between(as_double, double(lo), double(hi)))


def _between(node: exp.Expr, lo: exp.Expr, hi: exp.Expr) -> exp.Expr:
    return exp.Least(
        this=exp.Greatest(this=node, expressions=[lo], ignore_nulls=True),
        expressions=[hi],
        ignore_nulls=True,
    )


def _null_or(test: exp.Expr, value: exp.Expr) -> exp.Expr:
    """NULL when ``test`` is NULL, else ``value``."""
    return exp.Case(ifs=[exp.If(this=exp.Is(this=test, expression=exp.Null()), true=exp.Null())],
                    default=value)  # fmt: skip


def double(value: Fraction) -> exp.Expr:
    return exp.cast(exp.Literal.number(repr(float(value))), exp.DataType.Type.DOUBLE)


def grid_value(raw: exp.Expr, grid: Grid, dialect: Dialect) -> exp.Expr:
    """The grid integer of a raw DOUBLE value column, NULL kept as NULL.

    NaN and infinities fall to a bound (LEAST/GREATEST treat NaN as the largest value),
    so the cast to the accumulator cannot fail.
    """
    clamped = _between(raw.copy(), double(grid.value_lo), double(grid.value_hi))
    scaled = exp.cast(exp.func("ROUND", exp.Div(this=clamped, expression=double(grid.step))),
                      dialect.accumulator)  # fmt: skip
    return _null_or(raw.copy(), _between(scaled, num(grid.lo), num(grid.hi)))


def literal(value: PublicValue, sql_type: str | None) -> exp.Expr:
    """A public value as a typed SQL literal (a fresh tree: callers may attach it)."""
    return _literal(type(value).__name__, value, sql_type).copy()  # True is not 1


@functools.lru_cache(maxsize=65_536)
def _literal(kind: str, value: PublicValue, sql_type: str | None) -> exp.Expr:
    converted = exp.convert(value)
    return converted if sql_type is None else exp.cast(converted, _type(sql_type))


def sql(node: exp.Expr) -> str:
    """An expression as DuckDB SQL (for keys that identify an argument, and messages)."""
    return str(node.sql(dialect=SOURCE_DIALECT, comments=False))
