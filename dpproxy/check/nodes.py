"""Rule: every node of the tree is of a kind we understand (the fail-closed backstop).

Other rules check meaning in context; this one makes sure nothing they did not think of
slips through. A node type that is not listed here is rejected, whatever it is.
"""

from __future__ import annotations

from sqlglot import exp

from dpproxy.check.context import Context
from dpproxy.sqlstate import SQLState

STRUCTURE: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Select,
        exp.From,
        exp.Join,
        exp.Table,
        exp.TableAlias,
        exp.Where,
        exp.Group,
        exp.Having,
        exp.Order,
        exp.Ordered,
        exp.Limit,
        exp.Offset,
        exp.Alias,
        exp.Identifier,
    }
)
LEAVES: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Column,
        exp.Literal,
        exp.Boolean,
        exp.Null,
        exp.DataType,
        exp.DataTypeParam,
        exp.Var,
        exp.Interval,
    }
)
OPERATORS: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Add,
        exp.Sub,
        exp.Mul,
        exp.Div,
        exp.IntDiv,
        exp.Mod,
        exp.Neg,
        exp.Paren,
        exp.EQ,
        exp.NEQ,
        exp.GT,
        exp.GTE,
        exp.LT,
        exp.LTE,
        exp.And,
        exp.Or,
        exp.Not,
        exp.Is,
        exp.In,
        exp.Between,
        exp.Like,
        exp.ILike,
        exp.NullSafeEQ,
        exp.NullSafeNEQ,
        exp.DPipe,
    }
)
SCALAR_FUNCTIONS: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Abs,
        exp.Floor,
        exp.Ceil,
        exp.Round,
        exp.Lower,
        exp.Upper,
        exp.Length,
        exp.Substring,
        exp.Concat,
        exp.Trim,
        exp.Coalesce,
        exp.Nullif,
        exp.Least,
        exp.Greatest,
        exp.Case,
        exp.If,
        exp.Cast,
        exp.TimestampTrunc,
        exp.DateTrunc,
        exp.Extract,
        exp.Year,
        exp.Month,
        exp.Day,
        exp.Quarter,
    }
)
AGGREGATES: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Count,
        exp.Sum,
        exp.Avg,
        exp.Variance,
        exp.VariancePop,
        exp.Stddev,
        exp.StddevSamp,
        exp.StddevPop,
    }
)
ALLOWED = STRUCTURE | LEAVES | OPERATORS | SCALAR_FUNCTIONS | AGGREGATES

CAST_TYPES = frozenset(
    {
        exp.DataType.Type.TINYINT,
        exp.DataType.Type.SMALLINT,
        exp.DataType.Type.INT,
        exp.DataType.Type.BIGINT,
        exp.DataType.Type.FLOAT,
        exp.DataType.Type.DOUBLE,
        exp.DataType.Type.DECIMAL,
        exp.DataType.Type.TEXT,
        exp.DataType.Type.VARCHAR,
        exp.DataType.Type.DATE,
        exp.DataType.Type.TIMESTAMP,
        exp.DataType.Type.BOOLEAN,
    }
)
TIME_UNITS = frozenset(
    {
        "SECOND",
        "MINUTE",
        "HOUR",
        "DAY",
        "WEEK",
        "MONTH",
        "QUARTER",
        "YEAR",
        "DOW",
        "DOY",
        "ISODOW",
        "DAYOFWEEK",
        "DAYOFYEAR",
        "DAYS",
        "HOURS",
        "MINUTES",
        "SECONDS",
        "WEEKS",
        "MONTHS",
        "YEARS",
    }
)

_EXPLAINED: dict[type[exp.Expr], tuple[str, str]] = {
    exp.Subquery: (SQLState.FEATURE_NOT_SUPPORTED, "subqueries are not supported"),
    exp.Exists: (SQLState.FEATURE_NOT_SUPPORTED, "subqueries are not supported"),
    exp.Window: (SQLState.FEATURE_NOT_SUPPORTED, "window functions are not supported"),
    exp.Filter: (
        SQLState.FEATURE_NOT_SUPPORTED,
        "FILTER on an aggregate is not supported; use CASE inside it",
    ),
    exp.Min: (SQLState.INSUFFICIENT_PRIVILEGE, "MIN is not allowed: it releases one unit's value"),
    exp.Max: (SQLState.INSUFFICIENT_PRIVILEGE, "MAX is not allowed: it releases one unit's value"),
    exp.Median: (SQLState.INSUFFICIENT_PRIVILEGE, "quantiles are not supported yet"),
    exp.Rand: (SQLState.INSUFFICIENT_PRIVILEGE, "random functions are not allowed"),
    exp.Union: (SQLState.FEATURE_NOT_SUPPORTED, "set operations are not supported"),
    exp.Intersect: (SQLState.FEATURE_NOT_SUPPORTED, "set operations are not supported"),
    exp.Except: (SQLState.FEATURE_NOT_SUPPORTED, "set operations are not supported"),
    exp.Placeholder: (
        SQLState.FEATURE_NOT_SUPPORTED,
        "query parameters must be bound before checking",
    ),
    exp.Parameter: (
        SQLState.FEATURE_NOT_SUPPORTED,
        "query parameters must be bound before checking",
    ),
}


def check_nodes(ctx: Context) -> None:
    for node in ctx.select.walk():
        kind = type(node)
        if kind in _EXPLAINED:
            sqlstate, reason = _EXPLAINED[kind]
            ctx.reject(node, sqlstate, reason)
        elif kind is exp.Star:
            if not isinstance(node.parent, exp.Count):
                ctx.reject(
                    node,
                    SQLState.INSUFFICIENT_PRIVILEGE,
                    "* is only allowed in COUNT(*); dpproxy releases aggregates, never rows",
                )
        elif kind is exp.Distinct:
            if not isinstance(node.parent, exp.Count):
                ctx.reject(
                    node,
                    SQLState.FEATURE_NOT_SUPPORTED,
                    "DISTINCT is only allowed in COUNT(DISTINCT <privacy unit>)",
                )
        elif kind not in ALLOWED:
            _reject_unknown(ctx, node)
        elif isinstance(node, exp.Cast) and node.to.this not in CAST_TYPES:
            ctx.reject(
                node,
                SQLState.FEATURE_NOT_SUPPORTED,
                f"CAST to {node.to.sql('postgres')} is not supported",
            )
        elif kind is exp.In and any(node.args.get(k) for k in ("query", "unnest", "field")):
            ctx.reject(
                node, SQLState.FEATURE_NOT_SUPPORTED, "IN takes a list of values, not a subquery"
            )
        elif kind in (exp.Extract, exp.TimestampTrunc, exp.DateTrunc) or (
            kind is exp.Interval and node.args.get("unit") is not None
        ):
            _check_unit(ctx, node)
        elif kind is exp.Var and not _is_unit(node):
            # a Var is generated as raw text: allow it only where it names a time unit
            ctx.reject(node, SQLState.FEATURE_NOT_SUPPORTED, f"{node.name} is not supported here")


def _reject_unknown(ctx: Context, node: exp.Expr) -> None:
    if isinstance(node, exp.AggFunc):
        ctx.reject(
            node, SQLState.UNDEFINED_FUNCTION, f"aggregate function {_name(node)} is not allowed"
        )
    elif isinstance(node, exp.Func):
        ctx.reject(node, SQLState.UNDEFINED_FUNCTION, f"function {_name(node)} is not allowed")
    elif isinstance(node, exp.Select | exp.Query):
        ctx.reject(node, SQLState.FEATURE_NOT_SUPPORTED, "subqueries are not supported")
    else:
        ctx.reject(node, SQLState.FEATURE_NOT_SUPPORTED, f"{type(node).__name__} is not supported")


def _name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    return str(node.sql_name()) if isinstance(node, exp.Func) else type(node).__name__


def _is_unit(node: exp.Expr) -> bool:
    parent = node.parent
    if isinstance(parent, exp.Extract):
        return node.arg_key == "this"
    if isinstance(parent, exp.Interval | exp.TimestampTrunc | exp.DateTrunc):
        return node.arg_key == "unit"
    return False


def _check_unit(ctx: Context, node: exp.Expr) -> None:
    unit = node.args.get("unit") if not isinstance(node, exp.Extract) else node.this
    text = unit.name.upper() if isinstance(unit, exp.Var | exp.Literal) else None
    if text not in TIME_UNITS:
        ctx.reject(
            node,
            SQLState.FEATURE_NOT_SUPPORTED,
            "the time unit must be one of second, minute, hour, day, "
            "week, month, quarter, year, dow, doy",
        )
