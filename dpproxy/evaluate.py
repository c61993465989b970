"""Evaluate post-processing expressions (select list, HAVING, ORDER BY) on noisy values.

Only the node kinds ``check.outputs.POST_ALLOWED`` admits reach here, over ``__k<i>``
(group keys) and ``__a<j>`` (noisy aggregates). SQL NULL semantics: NULL in, NULL out;
division by zero, overflow and type mismatches give NULL (every step is total).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from sqlglot import exp

from dpproxy.errors import InternalError

Env = Mapping[str, Any]

_COMPARE: dict[type[exp.Expr], Callable[[Any, Any], bool]] = {
    exp.EQ: operator.eq,
    exp.NEQ: operator.ne,
    exp.GT: operator.gt,
    exp.GTE: operator.ge,
    exp.LT: operator.lt,
    exp.LTE: operator.le,
}
_ARITH: dict[type[exp.Expr], Callable[[Any, Any], Any]] = {
    exp.Add: operator.add,
    exp.Sub: operator.sub,
    exp.Mul: operator.mul,
}


def evaluate(node: exp.Expr, env: Env) -> Any:
    """The value of ``node``, total: an operation that fails on its operands (a type
    mismatch, an overflow, an invalid rounding) gives NULL, as TRY does in the engine, so
    no post-processing step can turn a released value into an error."""
    try:
        return _evaluate(node, env)
    except (TypeError, ValueError, ArithmeticError, RecursionError):
        return None


def _evaluate(node: exp.Expr, env: Env) -> Any:
    kind = type(node)
    if kind is exp.Column:
        return env[node.name]
    if isinstance(node, exp.Literal):
        return _literal(node)
    if kind is exp.Null:
        return None
    if kind is exp.Boolean:
        return bool(node.this)
    if kind is exp.Paren:
        return evaluate(node.this, env)
    if kind is exp.Neg:
        value = evaluate(node.this, env)
        return None if value is None else -value
    if kind in _ARITH or kind in _COMPARE or kind in (exp.Div, exp.IntDiv):
        return _binary(node, env)
    if kind is exp.And or kind is exp.Or:
        return _logic(node, env)
    if kind is exp.Not:
        value = evaluate(node.this, env)
        return None if value is None else not value
    if kind is exp.Is:
        value = evaluate(node.this, env)
        target = node.expression
        if isinstance(target, exp.Null):
            return value is None
        return value is (bool(target.this) if isinstance(target, exp.Boolean) else None)
    if kind in (exp.Abs, exp.Floor, exp.Ceil, exp.Round):
        return _numeric(node, env)
    return _other(node, env)


def _literal(node: exp.Literal) -> Any:
    if node.is_string:
        return str(node.this)
    text = str(node.this)
    return int(text) if node.is_int else float(text)


def _binary(node: exp.Expr, env: Env) -> Any:
    left, right = evaluate(node.this, env), evaluate(node.expression, env)
    if left is None or right is None:
        return None
    kind = type(node)
    try:
        if kind in _COMPARE:
            return _COMPARE[kind](left, right)
        if kind in _ARITH:
            return _ARITH[kind](left, right)
        if right == 0:
            return None
        if kind is exp.IntDiv or (isinstance(left, int) and isinstance(right, int)):
            quotient = abs(left) // abs(right)
            return quotient if (left >= 0) == (right >= 0) else -quotient
        return left / right
    except TypeError:
        return None


def _logic(node: exp.Expr, env: Env) -> Any:
    left, right = evaluate(node.this, env), evaluate(node.expression, env)
    if isinstance(node, exp.And):
        if left is False or right is False:
            return False
        return None if left is None or right is None else True
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


def _numeric(node: exp.Expr, env: Env) -> Any:
    value = evaluate(node.this, env)
    if value is None:
        return None
    if isinstance(node, exp.Abs):
        return abs(value)
    if isinstance(node, exp.Floor):
        return math.floor(value)
    if isinstance(node, exp.Ceil):
        return math.ceil(value)
    digits = node.args.get("decimals")
    places = int(evaluate(digits, env)) if digits is not None else 0
    rounded = decimal.Decimal(repr(value)).quantize(
        decimal.Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_UP
    )
    return int(rounded) if places == 0 and isinstance(value, int) else float(rounded)


def _other(node: exp.Expr, env: Env) -> Any:
    if isinstance(node, exp.In):
        value = evaluate(node.this, env)
        if value is None:
            return None
        options = [evaluate(o, env) for o in node.expressions]
        return value in options if value in options or None not in options else None
    if isinstance(node, exp.Between):
        value = evaluate(node.this, env)
        lo, hi = evaluate(node.args["low"], env), evaluate(node.args["high"], env)
        return None if None in (value, lo, hi) else lo <= value <= hi
    if isinstance(node, exp.Coalesce):
        for arg in [node.this, *node.expressions]:
            value = evaluate(arg, env)
            if value is not None:
                return value
        return None
    if isinstance(node, exp.Least | exp.Greatest):
        values = [
            v for v in (evaluate(a, env) for a in [node.this, *node.expressions]) if v is not None
        ]
        if not values:
            return None
        return min(values) if isinstance(node, exp.Least) else max(values)
    if isinstance(node, exp.Nullif):
        value, other = evaluate(node.this, env), evaluate(node.expression, env)
        return None if value == other else value
    if isinstance(node, exp.Case):
        return _case(node, env)
    if isinstance(node, exp.If):
        chosen = node.args.get("true") if evaluate(node.this, env) else node.args.get("false")
        return None if chosen is None else evaluate(chosen, env)
    if isinstance(node, exp.Cast):
        return _cast(evaluate(node.this, env), node.to)
    raise InternalError(f"cannot evaluate {type(node).__name__} after noise")


def _case(node: exp.Case, env: Env) -> Any:
    operand = node.this
    subject = evaluate(operand, env) if operand is not None else None
    for branch in node.args.get("ifs") or []:
        condition = evaluate(branch.this, env)
        hit = (condition == subject and subject is not None) if operand is not None else condition
        if hit:
            return evaluate(branch.args["true"], env)
    default = node.args.get("default")
    return None if default is None else evaluate(default, env)


def _cast(value: Any, to: exp.DataType) -> Any:
    if value is None:
        return None
    target = to.this
    try:
        if target in exp.DataType.INTEGER_TYPES:
            return int(decimal.Decimal(repr(value)).to_integral_value(decimal.ROUND_HALF_UP))
        if target in exp.DataType.REAL_TYPES:
            return float(value)
        if target in exp.DataType.TEXT_TYPES:
            return value.isoformat() if isinstance(value, dt.date) else str(value)
    except (TypeError, ValueError):
        return None
    return value
