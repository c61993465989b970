"""The checker's working state and name resolution (scope).

Rules read the AST, append violations here and fill in the parts of the query they
own; ``check()`` freezes the result into a ``CheckedQuery`` only when no rule objected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from sqlglot import exp

from dpproxy.check.checked import (
    AggregateCall,
    ColumnRef,
    GroupKey,
    OrderItem,
    OutputColumn,
    Relation,
    RowId,
)
from dpproxy.errors import Violation
from dpproxy.parse import violation
from dpproxy.policy.catalog import Catalog, ColumnInfo, TableInfo
from dpproxy.policy.model import Role
from dpproxy.sqlstate import SQLState


class Usage(Enum):
    """Where a column is used decides which roles may be used there."""

    FILTER = "WHERE or a condition"
    GROUP = "GROUP BY"
    OUTPUT = "the select list"
    MEASURE = "an aggregated value"
    COUNT = "COUNT"
    JOIN = "a join condition"


_ALLOWED_ROLES: dict[Usage, frozenset[Role]] = {
    Usage.FILTER: frozenset({Role.DIMENSION, Role.MEASURE}),
    Usage.GROUP: frozenset({Role.DIMENSION}),
    Usage.OUTPUT: frozenset({Role.DIMENSION}),
    Usage.MEASURE: frozenset({Role.MEASURE}),
    Usage.COUNT: frozenset({Role.DIMENSION, Role.MEASURE, Role.PRIVACY_UNIT, Role.JOIN_KEY}),
    Usage.JOIN: frozenset({Role.PRIVACY_UNIT, Role.JOIN_KEY}),
}


@dataclass
class Context:
    select: exp.Select
    catalog: Catalog
    violations: list[Violation] = field(default_factory=list)
    fatal: bool = False  # a violation that makes later rules meaningless
    relations: list[Relation] = field(default_factory=list)
    privacy_unit: ColumnRef | RowId | None = None
    domain: str | None = None
    filter: exp.Expr | None = None
    keys: list[GroupKey] = field(default_factory=list)
    aggregates: list[AggregateCall] = field(default_factory=list)
    outputs: list[OutputColumn] = field(default_factory=list)
    having: exp.Expr | None = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0

    def reject(self, node: exp.Expr, sqlstate: str, reason: str) -> None:
        self.violations.append(violation(node, sqlstate, reason))

    @property
    def protected_tables(self) -> list[TableInfo]:
        return [r.table for r in self.relations if not r.table.public]

    # -- name resolution -------------------------------------------------------------

    def relation(self, alias: str) -> Relation | None:
        for rel in self.relations:
            if rel.alias == alias:
                return rel
        return None

    def resolve(self, column: exp.Column, usage: Usage, *, report: bool = True) -> ColumnRef | None:
        """Find the relation and column a reference names, and check its role for ``usage``."""
        name = fold(column.this)
        if column.args.get("db") is not None or column.args.get("catalog") is not None:
            return self._fail(
                report,
                column,
                SQLState.FEATURE_NOT_SUPPORTED,
                "only table-qualified column names are supported",
            )
        table = column.args.get("table")
        if table is not None:
            rel = self.relation(fold(table))
            if rel is None:
                return self._fail(
                    report,
                    column,
                    SQLState.UNDEFINED_TABLE,
                    f"no table or alias '{fold(table)}' in FROM",
                )
            candidates = [rel] if name in rel.table.columns else []
        else:
            candidates = [r for r in self.relations if name in r.table.columns]
        if not candidates:
            return self._fail(
                report, column, SQLState.UNDEFINED_COLUMN, f"column '{name}' does not exist"
            )
        if len(candidates) > 1:
            return self._fail(
                report, column, SQLState.AMBIGUOUS_COLUMN, f"column reference '{name}' is ambiguous"
            )
        rel = candidates[0]
        info = rel.table.columns[name]
        reason = _role_problem(rel.table, info, usage)
        if reason is not None:
            return self._fail(report, column, SQLState.INSUFFICIENT_PRIVILEGE, reason)
        return ColumnRef(rel.alias, info)

    def _fail(self, report: bool, node: exp.Expr, sqlstate: str, reason: str) -> ColumnRef | None:
        """Record a violation (when reporting) and give the failed resolution, None."""
        if report:
            self.reject(node, sqlstate, reason)
        return None

    def qualify(
        self, expression: exp.Expr, usage: Usage, *, report: bool = True
    ) -> exp.Expr | None:
        """A copy of ``expression`` with every column resolved for ``usage`` and qualified
        by its alias; None when a column is not allowed there."""
        ok = True

        def replace(node: exp.Expr) -> exp.Expr:
            nonlocal ok
            if isinstance(node, exp.Column):
                ref = self.resolve(node, usage, report=report)
                if ref is None:
                    ok = False
                    return node
                return ref.to_sql()
            return node

        qualified = expression.copy().transform(replace, copy=False)
        return qualified if ok else None


def fold(identifier: exp.Expr | str) -> str:
    """PostgreSQL identifier folding: unquoted names are lower-cased."""
    if isinstance(identifier, str):
        return identifier.lower()
    if isinstance(identifier, exp.Identifier):
        return str(identifier.this) if identifier.quoted else str(identifier.this).lower()
    return str(identifier.name).lower()


def _role_problem(table: TableInfo, column: ColumnInfo, usage: Usage) -> str | None:
    where = usage.value
    if column.has(Role.HIDDEN):
        return f"column '{column.name}' of '{table.name}' is hidden by the policy"
    if table.public and usage is not Usage.MEASURE:
        return None
    if column.roles & _ALLOWED_ROLES[usage]:
        return None
    if column.has(Role.PRIVACY_UNIT):
        return (
            f"the privacy unit column '{column.name}' cannot be used in {where}; "
            "dpproxy releases aggregates: use COUNT(DISTINCT ...) to count units"
        )
    if usage is Usage.MEASURE:
        return (
            f"column '{column.name}' of '{table.name}' is not a measure with bounds, so "
            "it cannot be aggregated"
        )
    if usage in (Usage.GROUP, Usage.OUTPUT):
        return f"column '{column.name}' of '{table.name}' is not a dimension"
    if usage is Usage.JOIN:
        return f"column '{column.name}' of '{table.name}' is not a join key"
    roles = ", ".join(sorted(r.value for r in column.roles))
    return f"column '{column.name}' ({roles}) cannot be used in {where}"
