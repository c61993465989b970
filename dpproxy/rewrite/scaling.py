"""Which measurements are scaled per unit, and how: shared by the bounding passes."""

from __future__ import annotations

from dpproxy.plan import MeasureKind, QueryPlan


def clipped(plan: QueryPlan) -> list[int]:
    """Measurements summed from per-row values (all but the unit and row counts)."""
    return [i for i, m in enumerate(plan.measurements) if m.argument is not None]


def scaled_units(plan: QueryPlan) -> int | None:
    """The unit count, when it is scaled over a unit's groups rather than ranked."""
    return next(
        (
            i
            for i, m in enumerate(plan.measurements)
            if m.kind is MeasureKind.UNITS and m.resolution > 1
        ),
        None,
    )


def counts_units(plan: QueryPlan) -> bool:
    return any(m.kind is MeasureKind.UNITS for m in plan.measurements)


def clip_columns(plan: QueryPlan) -> list[tuple[int, str]]:
    """(measurement, per-unit column) pairs whose per-unit totals are bounded."""
    columns = [(i, f"__m{i}") for i in clipped(plan)]
    rows = [i for i, m in enumerate(plan.measurements) if m.kind is MeasureKind.ROWS]
    units = scaled_units(plan)
    scaled = [] if units is None else [(units, "__units")]
    return [(i, "__rows") for i in rows[:1]] + scaled + columns
