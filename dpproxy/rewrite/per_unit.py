"""Pass 3, ``__per_unit``: each unit's contributions, before they are bounded.

Where units are counted (COUNT(DISTINCT unit), partition selection, a minimum group
size), a unit's groups must be known, so its rows are aggregated per (unit, group) first
(Wilson et al. 2020). Otherwise the contributions stay per row: ``clip`` scales each row
by its unit's factor (the bound over the unit's L1 total over rows, which is at least its
L1 norm over groups, so the bound holds as before) and there is no (unit, group)
aggregate, the costliest step of the bounded query (measured in the README's benchmarks).
"""

from __future__ import annotations

from sqlglot import exp

from dpproxy.plan import MeasureKind
from dpproxy.rewrite.fixed_point import at_resolution
from dpproxy.rewrite.scaling import clipped, counts_units, scaled_units
from dpproxy.rewrite.statement import Statement
from dpproxy.rewrite.values import col, named, num


def per_unit(st: Statement) -> None:
    plan, d = st.plan, st.dialect
    group = [col("__pu"), *(col(k) for k in st.keys)]
    rows = [m.resolution for m in plan.measurements if m.kind is MeasureKind.ROWS]
    if not counts_units(plan):  # per row: each row is one row's worth
        row = at_resolution(exp.cast(num(1), d.accumulator), rows[0] if rows else 1)
        measured = [col(f"__m{i}") for i in clipped(plan)]
        st.add("__per_unit", exp.select(*group, named(row, "__rows"), *measured).from_(st.last))
        return
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
