"""Light type inference over qualified expressions, from the catalog's column types.

Used where PostgreSQL and DuckDB disagree: ``int / int`` is integer division in
PostgreSQL (the analyst's dialect) and real division in DuckDB, so it becomes ``//``.
"""

from __future__ import annotations

from sqlglot import exp

from dpproxy.check.context import Context
from dpproxy.policy.catalog import TypeKind, type_kind

_TEXT = (exp.Lower, exp.Upper, exp.Substring, exp.Concat, exp.DPipe, exp.Trim)
_BOOLEAN = (exp.Predicate, exp.Connector, exp.Not, exp.Boolean)
_INTEGER = (exp.Length, exp.Extract, exp.Year, exp.Month, exp.Day, exp.Quarter, exp.IntDiv)
_SAME = (exp.Neg, exp.Abs, exp.Paren, exp.Floor, exp.Ceil, exp.Round)
_FIRST_BRANCH = (exp.Coalesce, exp.Least, exp.Greatest, exp.Nullif)


def infer(node: exp.Expr, ctx: Context) -> TypeKind:
    """The kind of value ``node`` (already qualified) produces."""
    if isinstance(node, exp.Column):
        rel = ctx.relation(node.table)
        if rel is None or node.name not in rel.table.columns:
            return "other"
        return rel.table.columns[node.name].kind
    if isinstance(node, exp.Literal):
        return "text" if node.is_string else ("integer" if node.is_int else "float")
    if isinstance(node, _BOOLEAN):
        return "boolean"
    if isinstance(node, _TEXT):
        return "text"
    if isinstance(node, _INTEGER):
        return "integer"
    if isinstance(node, exp.TimestampTrunc | exp.DateTrunc):
        return "timestamp"
    if isinstance(node, exp.Cast):
        return type_kind(node.to.sql("duckdb"))
    if isinstance(node, _SAME):
        return infer(node.this, ctx)
    if isinstance(node, exp.Binary) and isinstance(
        node, exp.Add | exp.Sub | exp.Mul | exp.Mod | exp.Div
    ):
        left, right = infer(node.this, ctx), infer(node.expression, ctx)
        if left == right == "integer":
            return "integer"
        for temporal in ("timestamp", "date"):
            if temporal in (left, right):
                return temporal
        return "float"
    if isinstance(node, exp.Case):
        branches = [i.args["true"] for i in node.args.get("ifs") or []]
        branches.append(node.args.get("default"))
        return _first_known(branches, ctx)
    if isinstance(node, exp.If):
        return _first_known([node.args.get("true"), node.args.get("false")], ctx)
    if isinstance(node, _FIRST_BRANCH):
        return _first_known([node.this, *node.expressions], ctx)
    return "other"


def _first_known(nodes: list[exp.Expr | None], ctx: Context) -> TypeKind:
    for node in nodes:
        if node is not None and not isinstance(node, exp.Null):
            return infer(node, ctx)
    return "other"


def postgres_division(node: exp.Expr, ctx: Context) -> exp.Expr:
    """Rewrite ``int / int`` to integer division (truncating, as PostgreSQL does)."""

    root = node
    for sub in reversed(list(node.walk())):  # children before their parents
        if (
            isinstance(sub, exp.Div)
            and infer(sub.this, ctx) == infer(sub.expression, ctx) == "integer"
        ):
            replacement = exp.IntDiv(this=sub.this, expression=sub.expression)
            if sub is root:
                root = replacement
            else:
                sub.replace(replacement)
    return root
