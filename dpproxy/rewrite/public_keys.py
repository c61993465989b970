"""Pass 7: with public keys, every combination of the policy's key values appears (empty
groups as 0), in a fixed order: which groups exist never depends on the data."""

from __future__ import annotations

from sqlglot import exp

from dpproxy.rewrite.statement import Statement
from dpproxy.rewrite.values import col, literal, named, num


def public_keys(st: Statement) -> None:
    if not st.keys or not st.plan.public_keys:
        return
    lists = []
    for i, k in enumerate(st.query.keys):
        assert k.public_values is not None
        rows = [exp.tuple_(literal(v, k.sql_type)) for v in k.public_values]
        alias = exp.TableAlias(this=exp.to_identifier(f"__list{i}"),
                               columns=[exp.to_identifier(f"__k{i}")])  # fmt: skip
        lists.append(exp.Values(expressions=rows, alias=alias))
    keys = exp.select(exp.Star()).from_(lists[0])
    for values in lists[1:]:
        keys = keys.join(values, join_type="CROSS")
    st.add("__keys", keys)
    on = exp.and_(*(exp.NullSafeEQ(this=col(k, "__keys"), expression=col(k, "__groups"))
                    for k in st.keys))  # fmt: skip
    measured = [
        named(exp.Coalesce(this=col(f"__m{i}", "__groups"), expressions=[num(0)]), f"__m{i}")
        for i in range(len(st.plan.measurements))
    ]
    st.final = (
        exp.select(*(col(k, "__keys") for k in st.keys), *measured)
        .from_("__keys")
        .join("__groups", on=on, join_type="LEFT")
        .order_by(*(num(i + 1) for i in range(len(st.keys))))
    )
