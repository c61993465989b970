"""Rule: GROUP BY keys are dimensions, or allow-listed scalar functions of them.

A key may be written as an expression, a select-list alias or an ordinal, as in
PostgreSQL (an input column name wins over an alias). A key that is a bare column with a
public value list is public: its groups come from the policy, not from the data.
"""

from __future__ import annotations

from sqlglot import exp

from dpproxy.check.checked import GroupKey
from dpproxy.check.context import Context, Usage, fold
from dpproxy.check.nodes import AGGREGATES
from dpproxy.check.types import RESULT_TYPES, infer, postgres_division
from dpproxy.sqlstate import SQLState

MAX_KEYS = 8
MAX_PUBLIC_GROUPS = 1_000_000  # combinations of public key values the engine enumerates


def resolve_keys(ctx: Context) -> None:
    group = ctx.select.args.get("group")
    if group is None:
        return
    items = group.expressions
    if len(items) > MAX_KEYS:
        ctx.reject(
            group,
            SQLState.PROGRAM_LIMIT_EXCEEDED,
            f"at most {MAX_KEYS} GROUP BY keys are supported",
        )
        return
    for item in items:
        found = select_item(ctx, item)
        if found is None:
            continue
        node, label = found
        if any(type(n) in AGGREGATES for n in node.walk()):
            ctx.reject(
                item, SQLState.GROUPING_ERROR, "aggregate functions are not allowed in GROUP BY"
            )
            continue
        qualified = ctx.qualify(node, Usage.GROUP)
        if qualified is None:
            continue
        qualified = postgres_division(qualified, ctx)
        if any(qualified == key.expr for key in ctx.keys):
            continue
        key = _key(ctx, item, qualified, label)
        if key is not None:
            ctx.keys.append(key)
    _limit_public_groups(ctx, group)


def _limit_public_groups(ctx: Context, group: exp.Expr) -> None:
    """With public keys every combination of their values is a group, empty or not, and
    the engine builds them all: refuse before execution when there are too many. (The
    count comes from the policy, so the refusal says nothing about the data.)"""
    lists = [k.public_values for k in ctx.keys]
    if not lists or any(values is None for values in lists):
        return
    combinations = 1
    for values in lists:
        assert values is not None
        combinations *= len(values)
    if combinations > MAX_PUBLIC_GROUPS:
        ctx.reject(
            group,
            SQLState.PROGRAM_LIMIT_EXCEEDED,
            f"the public key lists make {combinations} groups; at most "
            f"{MAX_PUBLIC_GROUPS} are supported: group by fewer keys",
        )


def select_item(ctx: Context, item: exp.Expr) -> tuple[exp.Expr, str] | None:
    """Resolve an ordinal or a select-list alias to the select item it names."""
    outputs = ctx.select.expressions
    if isinstance(item, exp.Literal) and item.is_int:
        index = int(item.name)
        if not 1 <= index <= len(outputs):
            ctx.reject(
                item,
                SQLState.INVALID_COLUMN_REFERENCE,
                f"position {index} is not in the select list",
            )
            return None
        chosen = outputs[index - 1]
        return chosen.unalias(), chosen.alias_or_name
    if isinstance(item, exp.Column) and item.args.get("table") is None:
        name = fold(item.this)
        is_input = any(name in r.table.columns for r in ctx.relations)
        aliases = [o for o in outputs if isinstance(o, exp.Alias) and fold(o.args["alias"]) == name]
        if not is_input and len(aliases) == 1:
            return aliases[0].this, name
    return item, item.sql("postgres")


def _key(ctx: Context, item: exp.Expr, qualified: exp.Expr, label: str) -> GroupKey | None:
    """The key with its result type, or None (rejected) when its type is not one of the
    ``RESULT_TYPES``: an interval, a list, a blob would convert to Python in ways that can
    fail on one row's value."""
    kind = infer(qualified, ctx)
    if kind not in RESULT_TYPES:
        ctx.reject(
            item,
            SQLState.FEATURE_NOT_SUPPORTED,
            "a group key must be a number, text, boolean, date or timestamp; "
            "this one is not (or its type cannot be told): cast it to one of them",
        )
        return None
    public_values = None
    if isinstance(qualified, exp.Column):
        rel = ctx.relation(qualified.table)
        if rel is not None:
            public_values = rel.table.columns[qualified.name].public_values
    return GroupKey(qualified, label, kind, public_values, RESULT_TYPES[kind])
