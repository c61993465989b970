"""Rule: the select list, HAVING and ORDER BY are computed from group keys and aggregates.

They become post-processing expressions over ``__k<i>`` (keys) and ``__a<j>``
(aggregates), evaluated in Python on the noisy values after noise, so HAVING, ORDER BY
and LIMIT can never act on exact values. A column that is neither grouped nor
aggregated is a grouping error, as in PostgreSQL.
"""

from __future__ import annotations

from sqlglot import exp

from dpproxy.check.aggregates import register_aggregate
from dpproxy.check.checked import OrderItem, OutputColumn, agg_ref, key_ref
from dpproxy.check.context import Context, Usage, fold
from dpproxy.check.nodes import AGGREGATES, ALLOWED
from dpproxy.check.types import postgres_division
from dpproxy.sqlstate import SQLState

POST_ALLOWED: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Literal,
        exp.Null,
        exp.Boolean,
        exp.Paren,
        exp.Neg,
        exp.Add,
        exp.Sub,
        exp.Mul,
        exp.Div,
        exp.IntDiv,
        exp.Abs,
        exp.Round,
        exp.Floor,
        exp.Ceil,
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
        exp.Coalesce,
        exp.Least,
        exp.Greatest,
        exp.Case,
        exp.If,
        exp.Cast,
        exp.DataType,
        exp.DataTypeParam,
        exp.Nullif,
    }
)


def resolve_outputs(ctx: Context) -> None:
    converted: list[exp.Expr | None] = []
    for item in ctx.select.expressions:
        post = None if isinstance(item, exp.Star) else _convert(ctx, item.unalias())
        converted.append(post)  # a star is rejected by the node rule
        if post is None:
            continue
        key = _index(post, "__k")
        aggregate = _index(_unwrap(post), "__a")
        ctx.outputs.append(OutputColumn(_name(item), post, key, aggregate))
    having = ctx.select.args.get("having")
    if having is not None:
        ctx.having = _convert(ctx, having.this)
    order = ctx.select.args.get("order")
    if order is not None:
        for ordered in order.expressions:
            post = _order_target(ctx, ordered.this, converted)
            if post is not None:
                ctx.order.append(
                    OrderItem(
                        post, bool(ordered.args.get("desc")), bool(ordered.args.get("nulls_first"))
                    )
                )
    if not ctx.aggregates and not ctx.violations:
        ctx.reject(
            ctx.select,
            SQLState.GROUPING_ERROR,
            "a query over protected tables must aggregate (COUNT, SUM, AVG, VARIANCE, STDDEV)",
        )


def _order_target(
    ctx: Context, node: exp.Expr, converted: list[exp.Expr | None]
) -> exp.Expr | None:
    """An ordinal or an output name (they take precedence, as in PostgreSQL), or else an
    expression over keys and aggregates."""
    if isinstance(node, exp.Literal) and node.is_int:
        index = int(node.name)
        if not 1 <= index <= len(converted):
            ctx.reject(
                node,
                SQLState.INVALID_COLUMN_REFERENCE,
                f"ORDER BY position {index} is not in the select list",
            )
            return None
        return converted[index - 1]
    if isinstance(node, exp.Column) and node.args.get("table") is None:
        name = fold(node.this)
        for item, post in zip(ctx.select.expressions, converted, strict=True):
            if isinstance(item, exp.Alias) and fold(item.args["alias"]) == name:
                return post
    return _convert(ctx, node)


def _convert(ctx: Context, node: exp.Expr) -> exp.Expr | None:
    if type(node) in AGGREGATES:
        index = register_aggregate(ctx, node)
        return None if index is None else agg_ref(index)
    if not any(type(n) in AGGREGATES for n in node.walk()):
        qualified = ctx.qualify(node, Usage.GROUP, report=False)
        if qualified is not None:
            qualified = postgres_division(qualified, ctx)
            for index, key in enumerate(ctx.keys):
                if qualified == key.expr:
                    return key_ref(index)
    if isinstance(node, exp.Column):
        if ctx.resolve(node, Usage.OUTPUT) is not None:
            ctx.reject(
                node,
                SQLState.GROUPING_ERROR,
                f"column '{node.name}' must appear in the GROUP BY clause "
                "or be used in an aggregate function",
            )
        return None
    if type(node) not in ALLOWED:
        return None  # already reported by the node rule
    if type(node) not in POST_ALLOWED:
        ctx.reject(
            node,
            SQLState.FEATURE_NOT_SUPPORTED,
            "this expression must be a GROUP BY key, or computed from "
            "keys and aggregates with arithmetic, comparisons, CASE, "
            "COALESCE, ROUND",
        )
        return None
    rebuilt = node.copy()
    ok = True
    for child in list(rebuilt.iter_expressions()):
        converted = _convert(ctx, child)
        if converted is None:
            ok = False
        elif converted is not child:
            child.replace(converted)
    return rebuilt if ok else None


def _unwrap(post: exp.Expr) -> exp.Expr:
    """An aggregate under ROUND, CAST or parentheses keeps its accuracy figures."""
    while isinstance(post, exp.Round | exp.Cast | exp.Paren):
        post = post.this
    return post


def _index(post: exp.Expr, prefix: str) -> int | None:
    if isinstance(post, exp.Column) and post.name.startswith(prefix):
        return int(post.name[len(prefix) :])
    return None


def _name(item: exp.Expr) -> str:
    """The output column name PostgreSQL would give."""
    if isinstance(item, exp.Alias):
        return fold(item.args["alias"])
    if isinstance(item, exp.Column):
        return fold(item.this)
    if isinstance(item, exp.Func) and not isinstance(item, exp.Cast | exp.Case):
        return str(item.sql_name()).lower()
    return "?column?"
