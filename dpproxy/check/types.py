"""Light type inference over qualified expressions, from the catalog's column types.

Used where PostgreSQL and DuckDB disagree: ``int / int`` is integer division in
PostgreSQL (the analyst's dialect) and real division in DuckDB, so it becomes ``//``.
And used to type every group key: a key must be of one of the ``RESULT_TYPES`` (the
closed list of types whose values convert to Python without fail), and the engine
casts it to that type, so the type of a released key never depends on the data.
"""

from __future__ import annotations

from sqlglot import exp

from dpproxy.check.context import Context
from dpproxy.policy.catalog import TypeKind

_TEXT = (exp.Lower, exp.Upper, exp.Substring, exp.Concat, exp.DPipe, exp.Trim)
_BOOLEAN = (exp.Predicate, exp.Connector, exp.Not, exp.Boolean)
_INTEGER = (exp.Length, exp.Extract, exp.Year, exp.Month, exp.Day, exp.Quarter, exp.IntDiv)
_SAME = (exp.Neg, exp.Abs, exp.Paren, exp.Floor, exp.Ceil, exp.Round)
_FIRST_BRANCH = (exp.Coalesce, exp.Least, exp.Greatest, exp.Nullif)


# The closed list of key types, by kind, as the engine computes them (``rewrite.values``
# casts each key to its type; DATE and TIMESTAMP keys outside the years 1 to 9999, which
# Python cannot represent, become NULL there).
RESULT_TYPES: dict[TypeKind, str] = {
    "integer": "BIGINT",
    "float": "DOUBLE",
    "text": "VARCHAR",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


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
        return _cast_kind(node.to)
    if isinstance(node, _SAME):
        return infer(node.this, ctx)
    if isinstance(node, exp.Interval):
        return "other"
    if isinstance(node, exp.Binary) and isinstance(
        node, exp.Add | exp.Sub | exp.Mul | exp.Mod | exp.Div
    ):
        return _arithmetic(node, infer(node.this, ctx), infer(node.expression, ctx))
    if isinstance(node, exp.Case):
        branches = [i.args["true"] for i in node.args.get("ifs") or []]
        branches.append(node.args.get("default"))
        return _first_known(branches, ctx)
    if isinstance(node, exp.If):
        return _first_known([node.args.get("true"), node.args.get("false")], ctx)
    if isinstance(node, _FIRST_BRANCH):
        return _first_known([node.this, *node.expressions], ctx)
    return "other"


def _cast_kind(to: exp.DataType) -> TypeKind:
    target = to.this
    if target in exp.DataType.INTEGER_TYPES:
        return "integer"
    if target in exp.DataType.REAL_TYPES:
        return "float"
    if target in exp.DataType.TEXT_TYPES:
        return "text"
    if target is exp.DataType.Type.BOOLEAN:
        return "boolean"
    if target is exp.DataType.Type.DATE:
        return "date"
    if target is exp.DataType.Type.TIMESTAMP:
        return "timestamp"
    return "other"


_TEMPORAL = frozenset({"date", "timestamp"})


def _arithmetic(node: exp.Expr, left: TypeKind, right: TypeKind) -> TypeKind:
    """DuckDB's result kinds: date - date is a number of days, timestamp - timestamp an
    interval (not a key type), a date or timestamp plus an interval a timestamp."""
    kinds = {left, right}
    if kinds == {"integer"}:
        return "integer"
    if kinds <= {"integer", "float"}:
        return "float"
    if not isinstance(node, exp.Add | exp.Sub) or not kinds & _TEMPORAL:
        return "other"
    if isinstance(node, exp.Sub) and kinds <= _TEMPORAL:  # the difference of two times
        return "integer" if kinds == {"date"} else "other"
    if "other" in kinds:
        interval = any(isinstance(n, exp.Interval) for n in (node.this, node.expression))
        return "timestamp" if interval else "other"
    return "timestamp" if "timestamp" in kinds else "date"  # plus a number of days


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
