"""Pass 3, ``__per_unit``: aggregate per (unit, group) first (Wilson et al. 2020)."""

from __future__ import annotations

from sqlglot import exp

from dpproxy.plan import MeasureKind
from dpproxy.rewrite.fixed_point import at_resolution
from dpproxy.rewrite.scaling import clipped, scaled_units
from dpproxy.rewrite.statement import Statement
from dpproxy.rewrite.values import col, named, num


def per_unit(st: Statement) -> None:
    plan, d = st.plan, st.dialect
    group = [col("__pu"), *(col(k) for k in st.keys)]
    rows = [m.resolution for m in plan.measurements if m.kind is MeasureKind.ROWS]
    count = exp.cast(exp.Count(this=exp.Star()), d.accumulator)
    columns: list[exp.Expr] = [
        *group,
        named(at_resolution(count, rows[0] if rows else 1), "__rows"),
    ]
    columns += [named(exp.Sum(this=col(f"__m{i}")), f"__m{i}") for i in clipped(plan)]
    units = scaled_units(plan)
    if units is not None:  # the unit is worth 1 in each of its groups, before scaling
        resolution = num(plan.measurements[units].resolution)
        columns.append(named(exp.cast(resolution, d.accumulator), "__units"))
    select = exp.select(*columns).from_(st.last).group_by(*(g.copy() for g in group))
    st.add("__per_unit", select)
