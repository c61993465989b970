"""Rule: the statement's shape.

``SELECT <items> FROM t [JOIN ...] [WHERE] [GROUP BY] [HAVING] [ORDER BY] [LIMIT] [OFFSET]``
and nothing else: no WITH, DISTINCT, window definitions, QUALIFY, set operations, ...
"""

from __future__ import annotations

from sqlglot import exp

from dpproxy.check.context import Context
from dpproxy.sqlstate import SQLState

ALLOWED_CLAUSES = frozenset(
    {"expressions", "from_", "joins", "where", "group", "having", "order", "limit", "offset"}
)

_NAMES = {
    "with_": "WITH",
    "distinct": "SELECT DISTINCT",
    "windows": "WINDOW",
    "qualify": "QUALIFY",
    "laterals": "LATERAL",
    "pivots": "PIVOT",
    "sample": "TABLESAMPLE",
    "into": "SELECT INTO",
    "locks": "FOR UPDATE",
    "kind": "SELECT kind",
    "prewhere": "PREWHERE",
    "settings": "SETTINGS",
    "format": "FORMAT",
    "connect": "CONNECT BY",
    "exclude": "EXCLUDE",
    "match": "MATCH_RECOGNIZE",
}


def check_shape(ctx: Context) -> None:
    select = ctx.select
    for key, value in select.args.items():
        if key in ALLOWED_CLAUSES or value in (None, [], False):
            continue
        node = value if isinstance(value, exp.Expr) else select
        name = _NAMES.get(key, key.upper().rstrip("_"))
        ctx.reject(node, SQLState.FEATURE_NOT_SUPPORTED, f"{name} is not supported")
    if select.args.get("from_") is None:
        ctx.reject(
            select,
            SQLState.FEATURE_NOT_SUPPORTED,
            "a query must read from a table (FROM is missing)",
        )
        ctx.fatal = True
    limit = select.args.get("limit")
    if limit is not None:
        ctx.limit = _count(ctx, limit, "LIMIT")
    offset = select.args.get("offset")
    if offset is not None:
        ctx.offset = _count(ctx, offset, "OFFSET") or 0
    group = select.args.get("group")
    if group is not None:
        for key, value in group.args.items():
            if key != "expressions" and value not in (None, [], False):
                ctx.reject(
                    group,
                    SQLState.FEATURE_NOT_SUPPORTED,
                    f"GROUP BY {key.upper()} is not supported",
                )


def _count(ctx: Context, clause: exp.Expr, name: str) -> int | None:
    """LIMIT and OFFSET take a non-negative integer literal (they act on noisy rows)."""
    if not isinstance(clause, exp.Limit | exp.Offset):
        ctx.reject(clause, SQLState.FEATURE_NOT_SUPPORTED, f"only {name} <integer> is supported")
        return None
    extra = [k for k, v in clause.args.items() if k != "expression" and v not in (None, [], False)]
    value = clause.args.get("expression")
    if extra or not (isinstance(value, exp.Literal) and value.is_int):
        ctx.reject(
            clause, SQLState.FEATURE_NOT_SUPPORTED, f"{name} takes a non-negative integer literal"
        )
        return None
    number = int(value.name)
    if number < 0:
        ctx.reject(clause, SQLState.FEATURE_NOT_SUPPORTED, f"{name} must not be negative")
        return None
    return number
