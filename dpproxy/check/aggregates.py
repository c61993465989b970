"""Rule: aggregates are COUNT(*), COUNT(x), COUNT(DISTINCT <privacy unit>), SUM, AVG,
VARIANCE and STDDEV, each allowed by the policy of the tables it reads.

SUM, AVG, VARIANCE and STDDEV take measures or expressions of them whose bounds follow
from the declared bounds by interval arithmetic (``dpproxy.bounds``). Inside the
argument, columns on the value path are wrapped in ``MeasureRef`` so the rewrite clamps
exactly those; columns in CASE conditions are filters and stay as they are.
"""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

from sqlglot import exp

from dpproxy.bounds import BoundsError, Interval
from dpproxy.check.checked import AggKind, AggregateCall
from dpproxy.check.context import Context, Usage
from dpproxy.check.nodes import AGGREGATES
from dpproxy.check.types import infer, postgres_division
from dpproxy.policy.model import Aggregate, Role
from dpproxy.sqlstate import SQLState


class MeasureRef(exp.Expression, exp.Func):
    """A measure column on an aggregate's value path; the rewrite replaces it by the
    column clamped to its declared bounds."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True}
    _sql_names: ClassVar[list[str]] = ["DP_MEASURE"]


_VALUE_KINDS: dict[type[exp.Expr], AggKind] = {
    exp.Sum: AggKind.SUM,
    exp.Avg: AggKind.AVG,
    exp.Variance: AggKind.VAR_SAMP,
    exp.VariancePop: AggKind.VAR_POP,
    exp.Stddev: AggKind.STDDEV_SAMP,
    exp.StddevSamp: AggKind.STDDEV_SAMP,
    exp.StddevPop: AggKind.STDDEV_POP,
}
POLICY_NAME: dict[AggKind, Aggregate] = {
    AggKind.COUNT_ROWS: Aggregate.COUNT,
    AggKind.COUNT_VALUES: Aggregate.COUNT,
    AggKind.COUNT_UNITS: Aggregate.COUNT_DISTINCT,
    AggKind.SUM: Aggregate.SUM,
    AggKind.AVG: Aggregate.AVG,
    AggKind.VAR_POP: Aggregate.VARIANCE,
    AggKind.VAR_SAMP: Aggregate.VARIANCE,
    AggKind.STDDEV_POP: Aggregate.STDDEV,
    AggKind.STDDEV_SAMP: Aggregate.STDDEV,
}

Bounded = tuple[exp.Expr, Interval | None]  # None: the value is always NULL


def register_aggregate(ctx: Context, node: exp.Expr) -> int | None:
    """Check one aggregate call and return its index in ``ctx.aggregates``."""
    for inner in node.walk():
        if inner is not node and type(inner) in AGGREGATES:
            ctx.reject(inner, SQLState.GROUPING_ERROR, "aggregate function calls cannot be nested")
            return None
    call = _count(ctx, node) if isinstance(node, exp.Count) else _value(ctx, node)
    if call is None or not _allowed(ctx, node, call):
        return None
    for index, known in enumerate(ctx.aggregates):
        if known.kind == call.kind and known.argument == call.argument:
            return index
    ctx.aggregates.append(call)
    return len(ctx.aggregates) - 1


def _count(ctx: Context, node: exp.Count) -> AggregateCall | None:
    arg = node.this
    label = node.sql("postgres")
    if isinstance(arg, exp.Star):
        return AggregateCall(AggKind.COUNT_ROWS, None, None, label)
    if isinstance(arg, exp.Distinct):
        columns = arg.expressions
        ref = None
        if len(columns) == 1 and isinstance(columns[0], exp.Column):
            ref = ctx.resolve(columns[0], Usage.COUNT, report=False)
        if ref is None or not ref.column.has(Role.PRIVACY_UNIT):
            ctx.reject(
                node,
                SQLState.INSUFFICIENT_PRIVILEGE,
                "COUNT(DISTINCT ...) is only allowed on the privacy unit column",
            )
            return None
        return AggregateCall(AggKind.COUNT_UNITS, None, None, label)
    if arg is None or node.expressions:
        ctx.reject(node, SQLState.UNDEFINED_FUNCTION, "COUNT takes one argument")
        return None
    # A bare column may be counted whatever its role (COUNT(unit) counts rows); inside an
    # expression, columns act as conditions, with the roles WHERE allows: the privacy
    # unit cannot pick out one unit here either.
    usage = Usage.COUNT if isinstance(arg, exp.Column) else Usage.FILTER
    qualified = ctx.qualify(arg, usage)
    if qualified is None:
        return None
    if isinstance(qualified, exp.Null):
        ctx.reject(node, SQLState.DATATYPE_MISMATCH, "the argument is always NULL")
        return None
    if isinstance(qualified, exp.Literal | exp.Boolean):  # COUNT(1): a row count
        return AggregateCall(AggKind.COUNT_ROWS, None, None, label)
    return AggregateCall(AggKind.COUNT_VALUES, postgres_division(qualified, ctx), None, label)


def _value(ctx: Context, node: exp.Expr) -> AggregateCall | None:
    kind = _VALUE_KINDS.get(type(node))
    if kind is None:
        ctx.reject(
            node, SQLState.UNDEFINED_FUNCTION, f"aggregate {node.sql('postgres')} is not supported"
        )
        return None
    if isinstance(node.this, exp.Distinct):
        ctx.reject(
            node,
            SQLState.FEATURE_NOT_SUPPORTED,
            "DISTINCT is only allowed in COUNT(DISTINCT <privacy unit>)",
        )
        return None
    extra = [k for k, v in node.args.items() if k != "this" and v not in (None, [], False)]
    if extra:
        ctx.reject(
            node,
            SQLState.FEATURE_NOT_SUPPORTED,
            f"{type(node).__name__.upper()} takes exactly one argument",
        )
        return None
    try:
        found = _bound(ctx, node.this)
    except BoundsError as exc:
        ctx.reject(
            node.this, SQLState.INSUFFICIENT_PRIVILEGE, f"cannot bound this expression: {exc}"
        )
        return None
    if found is None:
        return None
    argument, interval = found
    if interval is None:
        ctx.reject(node.this, SQLState.DATATYPE_MISMATCH, "the argument is always NULL")
        return None
    return AggregateCall(kind, argument, interval, node.sql("postgres"))


def _allowed(ctx: Context, node: exp.Expr, call: AggregateCall) -> bool:
    """The aggregate must be allowed by every protected table whose columns it reads;
    one that reads no protected column (COUNT(*), COUNT(DISTINCT unit), SUM(1),
    SUM(<public column>)) still aggregates the protected rows, so every protected table
    must allow it."""
    need = POLICY_NAME[call.kind]
    tables = []
    if call.argument is not None:
        aliases = {c.table for c in call.argument.find_all(exp.Column)}
        tables = [r.table for r in ctx.relations if r.alias in aliases and not r.table.public]
    if not tables:
        tables = ctx.protected_tables
    refused = [t.name for t in tables if not t.allows(need)]
    if refused:
        ctx.reject(
            node,
            SQLState.INSUFFICIENT_PRIVILEGE,
            f"the policy of {', '.join(refused)} does not allow {need.value}",
        )
        return False
    return True


def _bound(ctx: Context, node: exp.Expr) -> Bounded | None:
    """The qualified value expression and its interval; None after a violation."""
    if isinstance(node, exp.Column):
        ref = ctx.resolve(node, Usage.MEASURE)
        if ref is None:
            return None
        assert ref.column.bounds is not None
        lo, hi = ref.column.bounds
        integer = ref.column.kind == "integer" and lo.denominator == hi.denominator == 1
        return MeasureRef(this=ref.to_sql()), Interval(lo, hi, integer)
    if isinstance(node, exp.Literal) and not node.is_string:
        return node.copy(), Interval.point(Fraction(node.name))
    if isinstance(node, exp.Null):
        return node.copy(), None
    if isinstance(node, exp.Paren):
        return _bound(ctx, node.this)
    if isinstance(node, exp.Neg | exp.Abs | exp.Floor | exp.Ceil):
        return _unary(ctx, node)
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div | exp.IntDiv):
        return _binary(ctx, node)
    if isinstance(node, exp.Round):
        return _round(ctx, node)
    if isinstance(node, exp.Least | exp.Greatest | exp.Coalesce):
        return _variadic(ctx, node)
    if isinstance(node, exp.Case | exp.If):
        return _conditional(ctx, node)
    if isinstance(node, exp.Cast) and infer(node, ctx) in ("integer", "float"):
        inner = _bound(ctx, node.this)
        if inner is None:
            return None
        value, interval = inner
        if interval is not None and infer(node, ctx) == "integer":
            interval = interval.rounded()
        return exp.Cast(this=value, to=node.to.copy()), interval
    ctx.reject(
        node,
        SQLState.INSUFFICIENT_PRIVILEGE,
        "cannot derive bounds for this expression; aggregate measures "
        "combined with + - * /, CASE, COALESCE, LEAST, GREATEST, ABS, "
        "ROUND, FLOOR, CEIL",
    )
    return None


def _unary(ctx: Context, node: exp.Expr) -> Bounded | None:
    inner = _bound(ctx, node.this)
    if inner is None:
        return None
    value, interval = inner
    rebuilt = type(node)(this=value)
    if interval is None:
        return rebuilt, None
    if isinstance(node, exp.Neg):
        return rebuilt, interval.neg()
    if isinstance(node, exp.Abs):
        return rebuilt, interval.abs()
    return rebuilt, interval.rounded()


def _binary(ctx: Context, node: exp.Expr) -> Bounded | None:
    left, right = _bound(ctx, node.this), _bound(ctx, node.expression)
    if left is None or right is None:
        return None
    (lv, li), (rv, ri) = left, right
    integer_division = isinstance(node, exp.IntDiv) or (
        isinstance(node, exp.Div)
        and li is not None
        and ri is not None
        and li.integer
        and ri.integer
    )
    cls = exp.IntDiv if integer_division else type(node)
    rebuilt = cls(this=lv, expression=rv)
    if li is None or ri is None:
        return rebuilt, None
    if isinstance(node, exp.Add):
        return rebuilt, li.add(ri)
    if isinstance(node, exp.Sub):
        return rebuilt, li.sub(ri)
    if isinstance(node, exp.Mul):
        return rebuilt, li.mul(ri)
    return rebuilt, li.trunc_div(ri) if integer_division else li.div(ri)


def _round(ctx: Context, node: exp.Round) -> Bounded | None:
    digits = node.args.get("decimals")
    places = 0
    if digits is not None:
        if not (isinstance(digits, exp.Literal) and digits.is_int and 0 <= int(digits.name) <= 12):
            ctx.reject(
                node,
                SQLState.INSUFFICIENT_PRIVILEGE,
                "ROUND takes a literal number of decimals from 0 to 12",
            )
            return None
        places = int(digits.name)
    inner = _bound(ctx, node.this)
    if inner is None:
        return None
    value, interval = inner
    rebuilt = exp.Round(this=value, decimals=digits.copy() if digits is not None else None)
    if interval is None:
        return rebuilt, None
    return rebuilt, interval.rounded() if places == 0 else interval.widened(Fraction(1, 10**places))


def _variadic(ctx: Context, node: exp.Expr) -> Bounded | None:
    parts = [_bound(ctx, arg) for arg in [node.this, *node.expressions]]
    if any(p is None for p in parts):
        return None
    values = [p[0] for p in parts if p is not None]
    intervals = [p[1] for p in parts if p is not None and p[1] is not None]
    extra = {k: v for k, v in node.args.items() if k not in ("this", "expressions")}
    rebuilt = type(node)(this=values[0], expressions=values[1:], **extra)
    if not intervals:
        return rebuilt, None
    result = intervals[0]
    for other in intervals[1:]:
        if isinstance(node, exp.Least):
            result = result.least(other)
        elif isinstance(node, exp.Greatest):
            result = result.greatest(other)
        else:
            result = result.union(other)
    return rebuilt, result


def _conditional(ctx: Context, node: exp.Expr) -> Bounded | None:
    """CASE/IF: conditions are filters; the branches are bounded values."""
    if isinstance(node, exp.If):
        node = exp.Case(
            ifs=[exp.If(this=node.this, true=node.args.get("true"))], default=node.args.get("false")
        )
    operand = node.this
    qualified_operand = None
    if operand is not None:
        qualified_operand = ctx.qualify(operand, Usage.FILTER)
        if qualified_operand is None:
            return None
    ifs, intervals, ok = [], [], True
    for branch in node.args.get("ifs") or []:
        condition = ctx.qualify(branch.this, Usage.FILTER)
        value = _bound(ctx, branch.args["true"])
        if condition is None or value is None:
            ok = False
            continue
        ifs.append(exp.If(this=postgres_division(condition, ctx), true=value[0]))
        intervals.append(value[1])
    default = node.args.get("default")
    default_value = None
    if default is not None:
        bounded = _bound(ctx, default)
        if bounded is None:
            return None
        default_value = bounded[0]
        intervals.append(bounded[1])
    if not ok:
        return None
    rebuilt = exp.Case(this=qualified_operand, ifs=ifs, default=default_value)
    known = [i for i in intervals if i is not None]
    if not known:
        return rebuilt, None
    result = known[0]
    for other in known[1:]:
        result = result.union(other)
    return rebuilt, result
