"""Pass 4, ``__ranked``: number each unit's groups in a random order (a hash keyed by the
secret salt, ties broken by the keys). With partition selection a unit contributes to
its first k groups only, so it can create at most k groups; otherwise only the unit
count is limited to them. Skipped when the unit count is scaled instead (public keys).
"""

from __future__ import annotations

from sqlglot import exp

from dpproxy.rewrite.scaling import counts_units, scaled_units
from dpproxy.rewrite.statement import Statement
from dpproxy.rewrite.values import col, named, num


def rank_groups(st: Statement) -> None:
    plan = st.plan
    if not st.keys or not counts_units(plan) or scaled_units(plan) is not None:
        return
    keys = [col(k) for k in st.keys]
    order = [st.dialect.keyed_order([col("__pu"), *keys], st.salt), *(k.copy() for k in keys)]
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[col("__pu")],
        order=exp.Order(expressions=[exp.Ordered(this=o) for o in order]),
    )
    ranked = exp.select(exp.Star(), named(rank, "__group_rank")).from_(st.last)
    select = exp.select(exp.Star()).from_(ranked.subquery())
    if plan.selection is not None and plan.selection.threshold > 0:
        bound = exp.LTE(this=col("__group_rank"), expression=num(plan.groups_per_unit))
        select = select.where(bound)
    st.add("__ranked", select)
