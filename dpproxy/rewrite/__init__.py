"""Stage 3, rewrite: a plan to the one SQL statement the engine runs.

The analyst's SQL is never sent: the statement is built here from the checked parts,
as a chain of CTEs, one per pass in ``RULES``:

1. ``source``: join, filter (total), group keys and raw values per row, with the
   privacy unit as ``__pu``;
2. ``fixed_point``: each measured value as an integer on its grid, clamped;
3. ``per_unit``: aggregate per (unit, group) first (Wilson et al. 2020);
4. ``rank_groups``: rank each unit's groups by a secret-keyed hash; a unit is counted in
   (and, when group keys are selected from the data, contributes to) at most k of them;
5. ``clip``: scale each unit's contribution vector of every measurement down to the
   L1 norm its sensitivity allows (R rows' worth), rounding toward zero on the integer
   grid; a unit within its bounds is left exactly as it is;
6. ``per_group``: exact integer measurements per group, summed in HUGEINT;
7. ``public_keys``: with public keys, every key of the policy appears (empty groups as 0).

Clipping replaces sampling R rows: it has the same sensitivity, keeps each unit's
contribution proportional instead of random, and needs no sort of the rows.
The result has one row per group: the keys, then one integer per measurement.

>>> # rewrite(plan, salt) -> "WITH __source AS (...) SELECT ..."
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dpproxy.check.checked import CheckedQuery
from dpproxy.plan import Grid, MeasureKind, QueryPlan
from dpproxy.rewrite.values import (
    grid_value,
    identifier,
    key_value,
    literal,
    sql,
    total,
    value_expression,
)


@dataclass
class Statement:
    plan: QueryPlan
    salt: int
    ctes: list[tuple[str, str]] = field(default_factory=list)
    final: str = ""

    @property
    def query(self) -> CheckedQuery:
        return self.plan.query

    @property
    def keys(self) -> list[str]:
        return [f"__k{i}" for i in range(len(self.query.keys))]

    def add(self, name: str, body: str) -> None:
        self.ctes.append((name, body))

    @property
    def last(self) -> str:
        return self.ctes[-1][0]

    def text(self) -> str:
        ctes = ",\n".join(f"{name} AS (\n  {body}\n)" for name, body in self.ctes)
        return f"WITH {ctes}\n{self.final}"


def _arguments(plan: QueryPlan) -> list[str]:
    """Distinct measured arguments, in order (measurements may share one)."""
    seen: list[str] = []
    for m in plan.measurements:
        if m.argument is not None:
            key = sql(m.argument)
            if key not in seen:
                seen.append(key)
    return seen


def source(st: Statement) -> None:
    q = st.query
    assert q.privacy_unit is not None
    columns = [f"{sql(q.privacy_unit.to_sql())} AS __pu"]
    columns += [f"{key_value(k.expr, k.sql_type)} AS __k{i}" for i, k in enumerate(q.keys)]
    arguments = _arguments(st.plan)
    for m in st.plan.measurements:
        if m.argument is None:
            continue
        index = arguments.index(sql(m.argument))
        column = f"{total(value_expression(m.argument, q))} AS __r{index}"
        if column not in columns:
            columns.append(column)
    tables = []
    for rel in q.relations:
        # the alias is the analyst's text: quoted and escaped, never pasted in
        ref = f"{identifier(rel.table.name)} AS {identifier(rel.alias)}"
        if rel.join == "from":
            tables.append(ref)
            continue
        on = " AND ".join(f"{sql(a.to_sql())} = {sql(b.to_sql())}" for a, b in rel.on)
        tables.append(f"{'LEFT JOIN' if rel.join == 'left' else 'JOIN'} {ref} ON {on}")
    # rows without a privacy unit belong to no one we can bound: they are left out
    conditions = [f"{sql(q.privacy_unit.to_sql())} IS NOT NULL"]
    if q.filter is not None:
        conditions.append(f"COALESCE({total(q.filter)}, FALSE)")
    if st.plan.public_keys:  # rows outside the public key lists would only waste group slots
        for k in q.keys:
            assert k.public_values is not None
            values = ", ".join(literal(v, k.sql_type) for v in k.public_values)
            conditions.append(f"{key_value(k.expr, k.sql_type)} IN ({values})")
    where = f"\n  WHERE {' AND '.join(conditions)}"
    st.add("__source", f"SELECT {', '.join(columns)}\n  FROM {' '.join(tables)}{where}")


def fixed_point(st: Statement) -> None:
    """Each measured value as an integer on its grid. The grid value of an argument is
    computed once (``__g<j>``) and reused: the engine runs without common-subexpression
    elimination (it would hoist expressions out of TRY), so repeating it would cost."""
    arguments = _arguments(st.plan)
    grids: dict[int, Grid] = {}
    for m in st.plan.measurements:
        if m.argument is not None and m.grid is not None:
            grids.setdefault(arguments.index(sql(m.argument)), m.grid)
    if grids:
        raws = [f"__r{j}" for j in range(len(arguments))]
        values = [f"{grid_value(f'__r{j}', grid)} AS __g{j}" for j, grid in grids.items()]
        st.add("__grid", f"SELECT {', '.join(['__pu', *st.keys, *raws, *values])} FROM {st.last}")
    columns = ["__pu", *st.keys]
    for i, m in enumerate(st.plan.measurements):
        if m.argument is None:
            continue
        j = arguments.index(sql(m.argument))
        if m.kind is MeasureKind.VALUES:
            value = f"CAST(__r{j} IS NOT NULL AS HUGEINT)"
        else:
            grid = m.grid
            assert grid is not None and grids[j] == grid
            if m.kind is MeasureKind.SUM:
                value = f"__g{j}"
            elif m.kind is MeasureKind.CENTRED_SUM:
                value = f"__g{j} - {grid.centre}"
            else:
                c = grid.centre
                value = f"(__g{j} - {c}) * (__g{j} - {c}) - {grid.square_centre}"
        columns.append(f"{_at_resolution(value, m.resolution)} AS __m{i}")
    st.add("__values", f"SELECT {', '.join(columns)} FROM {st.last}")


def _at_resolution(value: str, resolution: int) -> str:
    """A measurement's per-row value in its units (its grid step / resolution)."""
    if resolution == 1:
        return value
    return f"{value} * {resolution}" if value.isidentifier() else f"({value}) * {resolution}"


def per_unit(st: Statement) -> None:
    sums = [f"SUM(__m{i}) AS __m{i}" for i in _clipped(st.plan)]
    group = ", ".join(["__pu", *st.keys])
    rows = [m.resolution for m in st.plan.measurements if m.kind is MeasureKind.ROWS]
    count = _at_resolution("CAST(COUNT(*) AS HUGEINT)", rows[0] if rows else 1)
    units = _scaled_units(st.plan)
    if units is not None:  # the unit is worth 1 in each of its groups, before scaling
        sums.append(f"CAST({st.plan.measurements[units].resolution} AS HUGEINT) AS __units")
    columns = ", ".join([group, f"{count} AS __rows", *sums])
    st.add("__per_unit", f"SELECT {columns} FROM {st.last} GROUP BY {group}")


def rank_groups(st: Statement) -> None:
    """Number each unit's groups in a random order (a hash keyed by the secret salt, ties
    broken by the keys). With partition selection a unit contributes to its first k
    groups only, so it can create at most k groups; otherwise only the unit count is
    limited to them."""
    if not st.keys or not _counts_units(st.plan) or _scaled_units(st.plan) is not None:
        return
    keys = ", ".join(st.keys)
    rank = f"row_number() OVER (PARTITION BY __pu ORDER BY hash(__pu, {keys}, {st.salt}), {keys})"
    selecting = st.plan.selection is not None and st.plan.selection.threshold > 0
    keep = f"\n  WHERE __group_rank <= {st.plan.groups_per_unit}" if selecting else ""
    st.add("__ranked", f"SELECT * FROM (SELECT *, {rank} AS __group_rank FROM {st.last}){keep}")


def clip(st: Statement) -> None:
    """Per unit, scale every measurement down so its L1 norm over groups stays within
    its sensitivity: ``v * bound // total`` (truncating toward zero) when the total is
    above the bound. A sum alone is scaled on its own total; the centred sums behind AVG
    and VARIANCE share the factor of their count (R over the unit's number of values),
    which bounds them too, since each value is at most ``per_row`` from the centre.
    Values arrive at their measurement's resolution, so truncating loses a negligible
    part of a row. Each unit's contribution is computed from its own rows only."""
    columns = _clip_columns(st)
    if not columns:
        return
    measurements = st.plan.measurements
    column_of = dict(columns)

    def norm(i: int) -> tuple[str, int]:
        """The column whose per-unit L1 total scales measurement ``i``, and its bound."""
        driver = measurements[i].scaled_by
        j = i if driver is None else driver
        return column_of[j], int(measurements[j].sensitivity_l1)

    normed = dict.fromkeys(norm(i)[0] for i, _ in columns)
    sums = ", ".join(f"SUM(ABS({c})) AS __t{c}" for c in normed)
    source = st.last
    st.add("__totals", f"SELECT __pu, {sums} FROM {source} GROUP BY __pu")
    kept = ["__pu", *st.keys]
    if source == "__ranked":
        kept.append("__group_rank")
    clipped = []
    for i, c in columns:
        by, bound = norm(i)
        clipped.append(
            f"CASE WHEN __t{by} <= {bound} THEN {c} ELSE ({c} * {bound}) // __t{by} END AS {c}"
        )
    st.add(
        "__clipped",
        f"SELECT {', '.join([*kept, *clipped])} FROM {source} JOIN __totals USING (__pu)",
    )


def _clipped(plan: QueryPlan) -> list[int]:
    """Measurements summed from per-row values (all but the unit and row counts)."""
    return [i for i, m in enumerate(plan.measurements) if m.argument is not None]


def _clip_columns(st: Statement) -> list[tuple[int, str]]:
    columns = [(i, f"__m{i}") for i in _clipped(st.plan)]
    rows = [i for i, m in enumerate(st.plan.measurements) if m.kind is MeasureKind.ROWS]
    units = _scaled_units(st.plan)
    scaled_units = [] if units is None else [(units, "__units")]
    return [(i, "__rows") for i in rows[:1]] + scaled_units + columns


def _scaled_units(plan: QueryPlan) -> int | None:
    """The unit count, when it is scaled over a unit's groups rather than ranked."""
    return next(
        (
            i
            for i, m in enumerate(plan.measurements)
            if m.kind is MeasureKind.UNITS and m.resolution > 1
        ),
        None,
    )


def _counts_units(plan: QueryPlan) -> bool:
    return any(m.kind is MeasureKind.UNITS for m in plan.measurements)


def per_group(st: Statement) -> None:
    columns = list(st.keys)
    ranked = any(n == "__ranked" for n, _ in st.ctes)
    scaled_units = _scaled_units(st.plan)
    for i, m in enumerate(st.plan.measurements):
        if m.kind is MeasureKind.UNITS and ranked:
            within = f"__group_rank <= {st.plan.groups_per_unit}"
            columns.append(
                f"CAST(COALESCE(SUM(CASE WHEN {within} THEN 1 ELSE 0 END), 0) AS HUGEINT) AS __m{i}"
            )
        elif i == scaled_units:  # scaled over the unit's groups in clip
            columns.append(f"CAST(COALESCE(SUM(__units), 0) AS HUGEINT) AS __m{i}")
        elif m.kind is MeasureKind.UNITS:  # one group at most (no keys): every unit counts
            columns.append(f"CAST(COUNT(*) AS HUGEINT) AS __m{i}")
        elif m.kind is MeasureKind.ROWS:
            columns.append(f"CAST(COALESCE(SUM(__rows), 0) AS HUGEINT) AS __m{i}")
        else:
            columns.append(f"CAST(COALESCE(SUM(__m{i}), 0) AS HUGEINT) AS __m{i}")
    group = f" GROUP BY {', '.join(st.keys)}" if st.keys else ""
    st.add("__groups", f"SELECT {', '.join(columns)} FROM {st.last}{group}")
    measured = [f"__m{i}" for i in range(len(st.plan.measurements))]
    st.final = f"SELECT {', '.join([*st.keys, *measured])} FROM __groups"


def public_keys(st: Statement) -> None:
    if not st.keys or not st.plan.public_keys:
        return
    lists = []
    for i, k in enumerate(st.query.keys):
        assert k.public_values is not None
        rows = ", ".join(f"({literal(v, k.sql_type)})" for v in k.public_values)
        lists.append(f"(VALUES {rows}) AS __list{i}(__k{i})")
    st.add("__keys", "SELECT * FROM " + " CROSS JOIN ".join(lists))
    on = " AND ".join(
        f"__keys.__k{i} IS NOT DISTINCT FROM __groups.__k{i}" for i in range(len(st.keys))
    )
    measured = [f"COALESCE(__groups.__m{i}, 0) AS __m{i}" for i in range(len(st.plan.measurements))]
    keys = [f"__keys.__k{i}" for i in range(len(st.keys))]
    st.final = (
        f"SELECT {', '.join([*keys, *measured])}\nFROM __keys LEFT JOIN __groups ON {on}\n"
        f"ORDER BY {', '.join(str(i + 1) for i in range(len(keys)))}"
    )


Pass = Callable[[Statement], None]
RULES: tuple[Pass, ...] = (
    source,
    fixed_point,
    per_unit,
    rank_groups,
    clip,
    per_group,
    public_keys,
)


def rewrite(plan: QueryPlan, salt: int) -> str:
    """Build the bounded SQL for ``plan``; ``salt`` (from ``dpproxy.noise``) keys the
    random order of each unit's groups."""
    statement = Statement(plan, salt)
    for rule in RULES:
        rule(statement)
    return statement.text()


__all__ = ["RULES", "rewrite"]
