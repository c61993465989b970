"""Stage 5 continued: add noise to every measurement, then release.

Everything after ``add_noise`` is post-processing of noisy values, which cannot weaken
the guarantee: decoding aggregates (AVG = centre + centred sum / count), dropping groups
whose noisy unit count is below the threshold, HAVING, ORDER BY, LIMIT and OFFSET.
Released rows are first sorted by their keys, so the engine's row order (which depends
on the data) never shows.

Every step is total: the engine hands over every candidate group, released or not, so
an exception here on any group's values would tell whether such a group exists. Keys
arrive in one of the checker's result types; sorting uses a total order (NaN and NULL
included); decoding and evaluation give NULL where arithmetic fails; ``conform`` makes
each released value exactly its column's described type. A suppressed cell releases
nothing: no value and no accuracy figure.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from dpproxy.check.checked import AggKind
from dpproxy.conform import conform_row
from dpproxy.describe import output_types
from dpproxy.errors import InternalError, QueryTimeout
from dpproxy.evaluate import evaluate
from dpproxy.plan import AggregatePlan, Measurement, QueryPlan
from dpproxy.released import ColumnAccuracy, Released

DIRECT = (AggKind.COUNT_ROWS, AggKind.COUNT_VALUES, AggKind.COUNT_UNITS, AggKind.SUM)


@dataclass(frozen=True)
class _Group:
    keys: tuple[Any, ...]
    noisy: tuple[int, ...]  # one per measurement, exact + noise, in grid units


def add_noise(
    plan: QueryPlan, rows: Sequence[tuple[Any, ...]], deadline: float | None = None
) -> list[_Group]:
    """Draw one noise value per measurement per group; nothing exact survives this.

    ``deadline`` (``time.monotonic()``) carries the query's time limit over this stage:
    exact sampling costs microseconds per draw, so a key with millions of candidate
    groups would otherwise run past the limit for minutes.
    """
    n_keys = len(plan.query.keys)
    groups = []
    for row in rows:
        if deadline is not None and time.monotonic() > deadline:  # ~0.1 µs a group
            raise QueryTimeout()
        exact = row[n_keys:]
        if len(exact) != len(plan.measurements):
            raise InternalError("engine result does not match the plan")
        noisy = tuple(
            int(v) + m.mechanism.sample() for v, m in zip(exact, plan.measurements, strict=True)
        )
        groups.append(_Group(tuple(row[:n_keys]), noisy))
    return groups


def release(plan: QueryPlan, groups: list[_Group]) -> Released:
    query = plan.query
    groups = sorted(groups, key=lambda g: tuple(_sortable(k) for k in g.keys))
    kept: list[tuple[_Group, list[Any], list[float | None]]] = []
    for group in groups:
        suppressed = _suppressed(plan, group)
        if suppressed and query.keys:
            continue
        values: list[Any] = []
        widths: list[float | None] = []
        for agg in plan.aggregates:
            value, width = (None, None) if suppressed else _decoded(agg, plan, group)
            values.append(value)
            widths.append(width)
        kept.append((group, values, widths))
    types = output_types(plan)
    rows = []
    for group, values, _ in kept:
        env = {f"__k{i}": k for i, k in enumerate(group.keys)}
        env.update({f"__a{j}": v for j, v in enumerate(values)})
        if query.having is not None and evaluate(query.having, env) is not True:
            continue
        output = conform_row(tuple(evaluate(o.expr, env) for o in query.outputs), types)
        order = tuple(evaluate(o.expr, env) for o in query.order)
        rows.append((order, output))
    if query.order:
        rows.sort(key=functools.cmp_to_key(functools.partial(_compare, plan)))
    chosen = [output for _, output in rows][query.offset :]
    if query.limit is not None:
        chosen = chosen[: query.limit]
    return Released(tuple(o.name for o in query.outputs), chosen, _accuracy(plan, kept))


def _suppressed(plan: QueryPlan, group: _Group) -> bool:
    if plan.selection is None:
        return False
    index = plan.selection.measurement
    return plan.measurements[index].in_grid_units(group.noisy[index]) < plan.selection.minimum


def _sortable(value: Any) -> tuple[Any, ...]:
    """A total order over values of any of the result types, mixed or NULL (numbers by
    value, NaN after every number, NULLs last, as in PostgreSQL); equal only for equal
    values, so the order never falls back on the engine's."""
    if value is None:
        return (2,)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            return (1,)
        return (0, "number", value, repr(value))  # repr orders -0.0 and 0.0
    return (0, type(value).__name__, value)


def _compare(plan: QueryPlan, a: tuple[Any, Any], b: tuple[Any, Any]) -> int:
    for item, x, y in zip(plan.query.order, a[0], b[0], strict=True):
        if x == y:
            continue
        if x is None or y is None:
            first = x is None if item.nulls_first else y is None
            return -1 if first else 1
        sx, sy = _sortable(x), _sortable(y)
        if sx == sy:
            continue
        result = -1 if sx < sy else 1
        return -result if item.descending else result
    return 0


def _decoded(agg: AggregatePlan, plan: QueryPlan, group: _Group) -> tuple[Any, float | None]:
    """``_decode``, total: arithmetic that fails on a noisy value gives NULL."""
    try:
        return _decode(agg, plan.measurements, group.noisy)
    except (ArithmeticError, ValueError):
        return None, None


def _decode(
    agg: AggregatePlan, measurements: Sequence[Measurement], noisy: tuple[int, ...]
) -> tuple[Any, float | None]:
    """An aggregate's released value and its approximate 95% half-width."""
    used = [measurements[i] for i in agg.measurements]
    values = [m.in_grid_units(noisy[i]) for i, m in zip(agg.measurements, used, strict=True)]
    if agg.kind in (AggKind.COUNT_ROWS, AggKind.COUNT_VALUES, AggKind.COUNT_UNITS):
        return max(0, round(values[0])), _width(used[0])
    grid, bounds = agg.grid, agg.bounds
    assert grid is not None and bounds is not None
    if agg.kind is AggKind.SUM:
        value: Any = values[0] * grid.step
        if bounds.lo >= 0:
            value = max(value, Fraction(0))
        if bounds.hi <= 0:
            value = min(value, Fraction(0))
        return (round(value) if grid.step == 1 else float(value)), _width(used[0])
    count = values[0]
    if count < 1:  # fewer than one (noisy) row: no mean to speak of
        return None, None
    # half-widths in grid units, only where the width depends on the noisy values
    widths = [float(m.in_grid_units(m.mechanism.half_width())) for m in used]
    h_count, centred, h_sum = widths[0], values[1], widths[1]
    mean_c = centred / count
    if agg.kind is AggKind.AVG:
        avg = min(max((grid.centre + mean_c) * grid.step, bounds.lo), bounds.hi)
        width = float(grid.step) * (h_sum + abs(float(mean_c)) * h_count) / count
        return float(avg), min(width, float(bounds.hi - bounds.lo))
    squares, h_sq = values[2], widths[2]
    second = squares / count + grid.square_centre
    top = ((bounds.hi - bounds.lo) / 2) ** 2
    variance = min(max((second - mean_c**2) * grid.step**2, Fraction(0)), top)
    width_var = float(grid.step) ** 2 * (
        (h_sq + abs(float(second - grid.square_centre)) * h_count) / count
        + 2 * abs(float(mean_c)) * (h_sum + abs(float(mean_c)) * h_count) / count
    )
    width_var = min(width_var, float(top))
    if agg.kind in (AggKind.VAR_SAMP, AggKind.STDDEV_SAMP):
        if count <= 1:
            return None, None
        variance = variance * count / (count - 1)
    if agg.kind in (AggKind.VAR_POP, AggKind.VAR_SAMP):
        return float(variance), width_var
    std = math.sqrt(float(variance))
    width_std = (
        math.sqrt(width_var) if std == 0 else min(math.sqrt(width_var), width_var / (2 * std))
    )
    return std, width_std


def _width(measurement: Measurement) -> float:
    return float(measurement.mechanism.half_width() * measurement.unit)


def _scale(measurement: Measurement) -> float:
    mech = measurement.mechanism
    if mech.name == "discrete_gaussian":
        return math.sqrt(float(mech.scale)) * float(measurement.unit)
    return float(mech.scale * measurement.unit)


def expected_accuracy(plan: QueryPlan) -> tuple[ColumnAccuracy, ...]:
    """The figures a dry run can give: those that do not depend on any noisy value."""
    return _accuracy(plan, None)


def _accuracy(
    plan: QueryPlan, kept: list[tuple[_Group, list[Any], list[float | None]]] | None
) -> tuple[ColumnAccuracy, ...]:
    """Per column: its mechanism and scale, and the largest 95% half-width over the
    released cells (None where no cell was released: a suppressed cell has no figure).
    ``kept`` None is a dry run: the widths that do not depend on the data."""
    result = []
    for output in plan.query.outputs:
        if output.key is not None:
            key = plan.query.keys[output.key]
            if key.public_values is not None:
                how = "public key list"
            else:
                assert plan.selection is not None
                how = f"key released when its noisy unit count >= {plan.selection.minimum}"
            result.append(ColumnAccuracy(output.name, how, None, None))
            continue
        if output.aggregate is None:
            result.append(ColumnAccuracy(output.name, "post-processing", None, None))
            continue
        agg = plan.aggregates[output.aggregate]
        main = plan.measurements[
            agg.measurements[-1]
            if agg.kind is AggKind.SUM
            else agg.measurements[0 if len(agg.measurements) == 1 else 1]
        ]
        if kept is None:
            ci: float | None = _width(main) if agg.kind in DIRECT else None
        else:
            widths = [w for _, _, row in kept if (w := row[output.aggregate]) is not None]
            ci = max(widths) if widths else None
        result.append(
            ColumnAccuracy(
                output.name, main.mechanism.name, _scale(main), None if ci is None else float(ci)
            )
        )
    return tuple(result)
