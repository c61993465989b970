"""Pass 5, ``__totals`` and ``__clipped``: per unit, scale every measurement down so its
L1 norm over groups stays within its sensitivity: ``v * bound // total`` (truncating
toward zero) when the total is above the bound; a unit within its bounds is left
exactly as it is.

A sum alone is scaled on its own total; the centred sums behind AVG and VARIANCE share
the factor of their count (R over the unit's number of values), which bounds them too,
since each value is at most ``per_row`` from the centre. Values arrive at their
measurement's resolution, so truncating loses a negligible part of a row. Each unit's
contribution is computed from its own rows only. Clipping replaces sampling R rows: the
same sensitivity, contributions kept proportional instead of random, no row sort.
"""

from __future__ import annotations

from sqlglot import exp

from dpproxy.rewrite.scaling import clip_columns
from dpproxy.rewrite.statement import Statement
from dpproxy.rewrite.values import col, named, num


def clip(st: Statement) -> None:
    plan, d = st.plan, st.dialect
    columns = clip_columns(plan)
    if not columns:
        return
    column_of = dict(columns)

    def norm(i: int) -> tuple[str, int]:
        """The column whose per-unit L1 total scales measurement ``i``, and its bound."""
        driver = plan.measurements[i].scaled_by
        j = i if driver is None else driver
        return column_of[j], int(plan.measurements[j].sensitivity_l1)

    normed = dict.fromkeys(norm(i)[0] for i, _ in columns)
    sums = [named(exp.Sum(this=exp.Abs(this=col(c))), f"__t{c}") for c in normed]
    source = st.last
    st.add("__totals", exp.select(col("__pu"), *sums).from_(source).group_by(col("__pu")))
    kept = [col("__pu"), *(col(k) for k in st.keys)]
    if source == "__ranked":
        kept.append(col("__group_rank"))
    scaled = []
    for i, c in columns:
        by, bound = norm(i)
        within = exp.LTE(this=col(f"__t{by}"), expression=num(bound))
        share = d.truncating_division(
            exp.Paren(this=exp.Mul(this=col(c), expression=num(bound))), col(f"__t{by}")
        )
        scaled.append(named(exp.Case(ifs=[exp.If(this=within, true=col(c))], default=share), c))
    select = exp.select(*kept, *scaled).from_(source).join("__totals", using=["__pu"])
    st.add("__clipped", select)
