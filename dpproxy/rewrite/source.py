"""Pass 1, ``__source``: join, filter (total), group keys and raw values per row, with the
privacy unit as ``__pu``. Rows without a privacy unit belong to no one we can bound:
they are left out. With public keys, rows outside the lists would only waste group slots.
"""

from __future__ import annotations

from sqlglot import exp

from dpproxy.plan import QueryPlan
from dpproxy.rewrite.statement import Statement
from dpproxy.rewrite.values import key_value, literal, named, sql, table, value_expression


def arguments(plan: QueryPlan) -> tuple[list[exp.Expr], list[int | None]]:
    """The distinct measured arguments, in order (measurements may share one): ``__r<j>``;
    and, per measurement, the ``j`` of its argument (None for unit and row counts)."""
    index: dict[str, int] = {}
    distinct: list[exp.Expr] = []
    of: list[int | None] = []
    for m in plan.measurements:
        if m.argument is None:
            of.append(None)
            continue
        key = sql(m.argument)
        if key not in index:
            index[key] = len(distinct)
            distinct.append(m.argument)
        of.append(index[key])
    return distinct, of


def source(st: Statement) -> None:
    q, d = st.query, st.dialect
    assert q.privacy_unit is not None
    unit = q.privacy_unit.to_sql()
    columns: list[exp.Expr] = [named(unit.copy(), "__pu")]
    columns += [named(key_value(k.expr, k.sql_type, d), f"__k{i}") for i, k in enumerate(q.keys)]
    for j, argument in enumerate(arguments(st.plan)[0]):
        columns.append(named(d.total(value_expression(argument, q)), f"__r{j}"))
    select = exp.select(*columns, copy=False)
    for rel in q.relations:
        ref = table(rel.table.name, rel.alias)
        if rel.join == "from":
            select = select.from_(ref, copy=False)
            continue
        on = exp.and_(*(exp.EQ(this=a.to_sql(), expression=b.to_sql()) for a, b in rel.on))
        select = select.join(ref, on=on, join_type="LEFT" if rel.join == "left" else None,
                             copy=False)  # fmt: skip
    conditions: list[exp.Expr] = [exp.Not(this=exp.Is(this=unit.copy(), expression=exp.Null()))]
    if q.filter is not None:
        conditions.append(exp.Coalesce(this=d.total(q.filter.copy()), expressions=[exp.false()]))
    if st.plan.public_keys:
        for k in q.keys:
            assert k.public_values is not None
            values = [literal(v, k.sql_type) for v in k.public_values]
            conditions.append(exp.In(this=key_value(k.expr, k.sql_type, d), expressions=values))
    st.add("__source", select.where(exp.and_(*conditions), copy=False))
