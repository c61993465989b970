"""What the checker hands on: a ``CheckedQuery``, the query reduced to parts we understand.

Expressions inside are sqlglot trees that passed the node allowlist, with every column
qualified by its relation alias. Post-processing expressions (select list, HAVING,
ORDER BY) refer to group keys as ``__k<i>`` and to aggregates as ``__a<j>``; they are
evaluated in Python on noisy values and never reach the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from sqlglot import exp

from dpproxy.bounds import Interval
from dpproxy.policy.catalog import ColumnInfo, TableInfo, TypeKind
from dpproxy.policy.model import PublicValue

KEY_PREFIX = "__k"
AGG_PREFIX = "__a"


class AggKind(StrEnum):
    COUNT_ROWS = "count(*)"
    COUNT_VALUES = "count"
    COUNT_UNITS = "count(distinct unit)"
    SUM = "sum"
    AVG = "avg"
    VAR_POP = "var_pop"
    VAR_SAMP = "var_samp"
    STDDEV_POP = "stddev_pop"
    STDDEV_SAMP = "stddev_samp"


@dataclass(frozen=True)
class ColumnRef:
    alias: str
    column: ColumnInfo

    def to_sql(self) -> exp.Column:
        return exp.column(self.column.name, table=self.alias, quoted=True)


@dataclass(frozen=True)
class RowId:
    """The privacy unit of a row-level table: each row is its own unit."""

    alias: str

    def to_sql(self) -> exp.Column:
        return exp.column("rowid", table=self.alias, quoted=True)


@dataclass(frozen=True)
class Relation:
    alias: str
    table: TableInfo
    join: Literal["from", "inner", "left"]
    on: tuple[tuple[ColumnRef, ColumnRef], ...] = ()


@dataclass(frozen=True)
class GroupKey:
    expr: exp.Expr  # qualified
    label: str  # the analyst's text, for column names
    kind: TypeKind
    public_values: tuple[PublicValue, ...] | None  # set when the key is a public dimension
    sql_type: str  # its result type (check.types.RESULT_TYPES): the engine casts it so


@dataclass(frozen=True)
class AggregateCall:
    kind: AggKind
    argument: exp.Expr | None  # qualified; None for COUNT(*) and COUNT(DISTINCT unit)
    bounds: Interval | None  # for SUM, AVG, VAR*, STDDEV*
    label: str  # the analyst's text, e.g. "AVG(annual_spend)"


@dataclass(frozen=True)
class OutputColumn:
    name: str
    expr: exp.Expr  # over __k<i> and __a<j>
    key: int | None  # index of the group key when the column is exactly a key
    aggregate: int | None  # index of the aggregate when the column is exactly one


@dataclass(frozen=True)
class OrderItem:
    expr: exp.Expr  # over __k<i> and __a<j>
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class CheckedQuery:
    relations: tuple[Relation, ...]
    privacy_unit: ColumnRef | RowId | None  # None: the query reads public tables only
    domain: str | None
    filter: exp.Expr | None
    keys: tuple[GroupKey, ...]
    aggregates: tuple[AggregateCall, ...]
    outputs: tuple[OutputColumn, ...]
    having: exp.Expr | None
    order: tuple[OrderItem, ...]
    limit: int | None
    offset: int
    max_rows_per_unit: int
    max_groups_per_unit: int
    min_group_size: int

    @property
    def protected(self) -> bool:
        return self.privacy_unit is not None

    def canonical(self) -> str:
        """A canonical text of everything that determines the answer (for the cache)."""
        parts = [
            "rel:"
            + ";".join(
                f"{r.join}:{r.table.name}:{r.alias}:"
                + ",".join(f"{a.alias}.{a.column.name}={b.alias}.{b.column.name}" for a, b in r.on)
                for r in self.relations
            ),
            "filter:" + (self.filter.sql("duckdb") if self.filter is not None else ""),
            "keys:" + ";".join(k.expr.sql("duckdb") for k in self.keys),
            "aggs:"
            + ";".join(
                f"{a.kind}({a.argument.sql('duckdb') if a.argument else ''})"
                for a in self.aggregates
            ),
            "out:" + ";".join(f"{o.name}={o.expr.sql('duckdb')}" for o in self.outputs),
            "having:" + (self.having.sql("duckdb") if self.having is not None else ""),
            "order:"
            + ";".join(
                f"{o.expr.sql('duckdb')}:{o.descending}:{o.nulls_first}" for o in self.order
            ),
            f"limit:{self.limit}:{self.offset}",
        ]
        return "\n".join(parts)


def key_ref(index: int) -> exp.Column:
    return exp.column(f"{KEY_PREFIX}{index}")


def agg_ref(index: int) -> exp.Column:
    return exp.column(f"{AGG_PREFIX}{index}")
