"""Rule: WHERE filters rows by dimensions and measures, before any bounding.

A filter is a per-row transformation, so it cannot widen a unit's contribution. The
privacy unit and hidden columns are not allowed, nor aggregates.
"""

from __future__ import annotations

from dpproxy.check.context import Context, Usage
from dpproxy.check.nodes import AGGREGATES
from dpproxy.check.types import postgres_division
from dpproxy.sqlstate import SQLState


def check_filter(ctx: Context) -> None:
    where = ctx.select.args.get("where")
    if where is None:
        return
    condition = where.this
    for node in condition.walk():
        if type(node) in AGGREGATES:
            ctx.reject(
                node,
                SQLState.GROUPING_ERROR,
                "aggregate functions are not allowed in WHERE; use HAVING",
            )
            return
    qualified = ctx.qualify(condition, Usage.FILTER)
    if qualified is not None:
        ctx.filter = postgres_division(qualified, ctx)
