"""Describe a query's output columns (names and types) without executing it.

For clients that ask for a result's shape before running it (the wire protocol's
Describe): no data is touched, no noise is drawn, nothing is charged.

>>> # describe(proxy, "SELECT city, COUNT(*) FROM members GROUP BY city")
>>> # -> (OutputType("city", "VARCHAR"), OutputType("count", "BIGINT"))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp

from dpproxy.check import CheckedQuery, check
from dpproxy.check.checked import AggKind
from dpproxy.parse import parse
from dpproxy.plan import QueryPlan

if TYPE_CHECKING:
    from dpproxy.proxy import Proxy

_COUNTS = (AggKind.COUNT_ROWS, AggKind.COUNT_VALUES, AggKind.COUNT_UNITS)


@dataclass(frozen=True)
class OutputType:
    name: str
    sql_type: str  # a DuckDB type name: BIGINT, DOUBLE, VARCHAR, DATE, TIMESTAMP, BOOLEAN


def describe(proxy: Proxy, sql: str) -> tuple[OutputType, ...]:
    """Parse and check ``sql`` (rejections raise as usual) and type its output columns."""
    from dpproxy.pipeline import plan_query

    query = check(parse(sql, max_length=proxy.policies.config.queries.max_query_length),
                  proxy.catalog)  # fmt: skip
    plan = plan_query(proxy, query, None)
    return tuple(
        OutputType(o.name, t) for o, t in zip(query.outputs, output_types(plan), strict=True)
    )


def output_types(plan: QueryPlan) -> tuple[str, ...]:
    """The type of each output column, from the query and the policy alone: what
    Describe announces, and what ``conform`` makes every released value."""
    return tuple(_type(o.expr, plan.query, plan) for o in plan.query.outputs)


def _type(node: exp.Expr, query: CheckedQuery, plan: QueryPlan) -> str:
    if isinstance(node, exp.Column) and node.name.startswith("__k"):
        return query.keys[int(node.name[3:])].sql_type
    if isinstance(node, exp.Column) and node.name.startswith("__a"):
        agg = plan.aggregates[int(node.name[3:])]
        if agg.kind in _COUNTS:
            return "BIGINT"
        if agg.kind is AggKind.SUM and agg.grid is not None and agg.grid.step == 1:
            return "BIGINT"
        return "DOUBLE"
    if isinstance(node, exp.Literal):
        return "VARCHAR" if node.is_string else ("BIGINT" if node.is_int else "DOUBLE")
    if isinstance(node, exp.Boolean | exp.Predicate | exp.Connector | exp.Not):
        return "BOOLEAN"
    if isinstance(node, exp.Cast):
        return str(node.to.sql("duckdb")).upper()
    if isinstance(node, exp.Paren | exp.Neg | exp.Abs | exp.Round | exp.Floor | exp.Ceil):
        return _type(node.this, query, plan)
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div | exp.IntDiv):
        left, right = _type(node.this, query, plan), _type(node.expression, query, plan)
        return "BIGINT" if left == right == "BIGINT" else "DOUBLE"
    branches: list[exp.Expr] = []
    if isinstance(node, exp.Case):
        branches = [i.args["true"] for i in node.args.get("ifs") or []]
        branches.append(node.args.get("default") or exp.Null())
    elif isinstance(node, exp.Coalesce | exp.Least | exp.Greatest | exp.Nullif):
        branches = [node.this, *node.expressions]
    elif isinstance(node, exp.If):
        branches = [node.args["true"], node.args.get("false") or exp.Null()]
    types = {_type(b, query, plan) for b in branches if not isinstance(b, exp.Null)}
    if types <= {"BIGINT", "DOUBLE"} and types:
        return "DOUBLE" if "DOUBLE" in types else "BIGINT"
    return types.pop() if len(types) == 1 else "VARCHAR"
