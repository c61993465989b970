"""Pass 6, ``__groups``: exact integer measurements per group, summed in the dialect's
exact accumulator. The result has one row per group: the keys, then one integer per
measurement."""

from __future__ import annotations

from sqlglot import exp

from dpproxy.plan import MeasureKind
from dpproxy.rewrite.scaling import scaled_units
from dpproxy.rewrite.statement import Statement
from dpproxy.rewrite.values import col, named, num


def per_group(st: Statement) -> None:
    plan, d = st.plan, st.dialect
    ranked = st.has("__ranked")
    units = scaled_units(plan)

    def summed(node: exp.Expr) -> exp.Expr:
        return exp.cast(exp.Coalesce(this=exp.Sum(this=node), expressions=[num(0)]),
                        d.accumulator)  # fmt: skip

    columns: list[exp.Expr] = [col(k) for k in st.keys]
    for i, m in enumerate(plan.measurements):
        if m.kind is MeasureKind.UNITS and ranked:
            within = exp.LTE(this=col("__group_rank"), expression=num(plan.groups_per_unit))
            value = summed(exp.Case(ifs=[exp.If(this=within, true=num(1))], default=num(0)))
        elif i == units:  # scaled over the unit's groups in clip
            value = summed(col("__units"))
        elif m.kind is MeasureKind.UNITS:  # one group at most (no keys): every unit counts
            value = exp.cast(exp.Count(this=exp.Star()), d.accumulator)
        elif m.kind is MeasureKind.ROWS:
            value = summed(col("__rows"))
        else:
            value = summed(col(f"__m{i}"))
        columns.append(named(value, f"__m{i}"))
    select = exp.select(*columns).from_(st.last)
    if st.keys:
        select = select.group_by(*(col(k) for k in st.keys))
    st.add("__groups", select)
    measured = [col(f"__m{i}") for i in range(len(plan.measurements))]
    st.final = exp.select(*(col(k) for k in st.keys), *measured).from_("__groups")
