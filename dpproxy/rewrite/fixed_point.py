"""Pass 2, ``__grid`` and ``__values``: each measured value as an integer on its grid.

The grid value of an argument is computed once (``__g<j>``) and reused: the engine runs
without common-subexpression elimination (it would hoist expressions out of TRY), so
repeating it would cost. Each measurement is then expressed at its resolution (its grid
step divided by ``Measurement.resolution``), so later truncation loses a negligible part
of a row.
"""

from __future__ import annotations

from sqlglot import exp

from dpproxy.plan import Grid, MeasureKind
from dpproxy.rewrite.source import arguments
from dpproxy.rewrite.statement import Statement
from dpproxy.rewrite.values import col, grid_value, named, num, paren


def at_resolution(value: exp.Expr, resolution: int) -> exp.Expr:
    """A measurement's per-row value in its units (its grid step / resolution)."""
    return value if resolution == 1 else exp.Mul(this=paren(value), expression=num(resolution))


def fixed_point(st: Statement) -> None:
    plan, d = st.plan, st.dialect
    distinct, argument_of = arguments(plan)
    grids: dict[int, Grid] = {}
    for m, j in zip(plan.measurements, argument_of, strict=True):
        if j is not None and m.grid is not None:
            grids.setdefault(j, m.grid)
    keys = [col(k) for k in st.keys]
    if grids:
        raws = [col(f"__r{j}") for j in range(len(distinct))]
        values = [named(grid_value(col(f"__r{j}"), g, d), f"__g{j}") for j, g in grids.items()]
        st.add("__grid", exp.select(col("__pu"), *keys, *raws, *values).from_(st.last))
    columns: list[exp.Expr] = [col("__pu"), *(k.copy() for k in keys)]
    for i, (m, j) in enumerate(zip(plan.measurements, argument_of, strict=True)):
        if j is None:
            continue
        value: exp.Expr
        if m.kind is MeasureKind.VALUES:
            present = exp.Not(this=exp.Is(this=col(f"__r{j}"), expression=exp.Null()))
            value = exp.cast(present, d.accumulator)
        else:
            grid = m.grid
            assert grid is not None and grids[j] == grid
            g = col(f"__g{j}")
            if m.kind is MeasureKind.SUM:
                value = g
            elif m.kind is MeasureKind.CENTRED_SUM:
                value = exp.Sub(this=g, expression=num(grid.centre))
            else:
                centred = exp.Paren(this=exp.Sub(this=g, expression=num(grid.centre)))
                square = exp.Mul(this=centred, expression=centred.copy())
                value = exp.Sub(this=square, expression=num(grid.square_centre))
        columns.append(named(at_resolution(value, m.resolution), f"__m{i}"))
    st.add("__values", exp.select(*columns).from_(st.last))
