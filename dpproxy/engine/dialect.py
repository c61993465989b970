"""The engine semantics the rewrite relies on for privacy, named in one place per engine.

The rewrite (``dpproxy.rewrite``) builds sqlglot trees; what those trees must mean on a
given engine is decided here, not spread over the passes:

* ``total``: an analyst expression that never raises (an error becomes NULL), which
  closes the error channel; DuckDB has a generic ``TRY``;
* ``accumulator``: the exact integer type per-group sums are taken in (DuckDB
  ``HUGEINT``: no overflow, no rounding, Casacuberta et al. 2022);
* ``truncating_division``: integer division rounding toward zero (DuckDB ``//``), used
  to scale a unit's contribution down without ever rounding it up;
* ``keyed_order``: the secret-keyed order in which a unit's groups are ranked (the MD5
  of the salt and the values: both engines rank alike);
* ``generate``: SQL text, with anything the dialect cannot express an error, never
  silently dropped (sqlglot's default drops ``TRY`` when writing Spark SQL).

>>> DUCKDB.generate(DUCKDB.total(exp.column("a")))
'TRY(a)'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlglot import exp
from sqlglot.errors import ErrorLevel


class Dialect(Protocol):
    name: str  # the sqlglot dialect

    @property
    def accumulator(self) -> exp.DataType: ...

    def total(self, node: exp.Expr) -> exp.Expr: ...

    def truncating_division(self, dividend: exp.Expr, divisor: exp.Expr) -> exp.Expr: ...

    def keyed_order(self, values: Sequence[exp.Expr], salt: int) -> exp.Expr: ...

    def generate(self, tree: exp.Expr) -> str: ...


def md5_order(values: Sequence[exp.Expr], salt: int) -> exp.Expr:
    """A keyed order every engine computes identically (DuckDB's ``hash`` is 64-bit,
    Spark's 32-bit Murmur3): the hex MD5 of the salt and the values as text, NULL
    marked apart from every value. Collisions cost randomness, never privacy: ties are
    broken by the keys, and the order depends on one unit's own rows only."""
    text = exp.DataType.build("TEXT")
    parts: list[exp.Expr] = [exp.Literal.string(str(salt))]
    for value in values:
        marked = exp.func("CONCAT", exp.Literal.string("="), exp.cast(value.copy(), text))
        parts.append(exp.Coalesce(this=marked, expressions=[exp.Literal.string("~")]))
    return exp.MD5(
        this=exp.Anonymous(this="CONCAT_WS", expressions=[exp.Literal.string("|"), *parts])
    )


class DuckDBDialect:
    name = "duckdb"

    @property
    def accumulator(self) -> exp.DataType:
        return exp.DataType(this=exp.DataType.Type.INT128)  # HUGEINT

    def total(self, node: exp.Expr) -> exp.Expr:
        return exp.Try(this=node)

    def truncating_division(self, dividend: exp.Expr, divisor: exp.Expr) -> exp.Expr:
        return exp.IntDiv(this=dividend, expression=divisor)  # toward zero on integers

    def keyed_order(self, values: Sequence[exp.Expr], salt: int) -> exp.Expr:
        return md5_order(values, salt)

    def generate(self, tree: exp.Expr) -> str:
        return str(
            tree.sql(
                dialect=self.name, comments=False, pretty=True, unsupported_level=ErrorLevel.RAISE
            )
        )


DUCKDB = DuckDBDialect()
