"""The privacy plan: every noisy measurement of a query, built before any data is touched.

A measurement is one integer per group (a count, or a sum on a fixed-point grid) with
its sensitivity, its share of the budget and its mechanism. Aggregates the analyst
asked for are computed from measurements by post-processing (AVG = centred sum / count).
``make_*`` constructors check their preconditions and record the sensitivity, so a
measurement cannot exist without a bounded contribution behind it (STYLE habit 5).
``QueryPlan.verify()`` recomputes the total loss before it is charged (habit 6).

Sensitivities are in the measurement's own integer units. Contribution bounding
(``rewrite``) scales each unit's contribution vector (over groups) of every measurement
down to an L1 norm worth R rows: R for row counts, R times the largest |grid value| for
sums. A sum alone is clipped on its own L1 norm; the count, centred sum and centred
squares behind one AVG or VARIANCE are all scaled by the same factor, R over the unit's
number of values, so a heavy unit keeps its own mean and spread. Scaling rounds toward
zero, so it is done at a finer resolution (``Measurement.resolution``: the grid step cut
into that many parts) to make the rounding loss negligible. A unit is counted in at most
k = min(G, R) groups (one without GROUP BY): with partition selection in the first k of
its groups in a random order; with public keys it counts k / g in each of its g groups
when g > k. So a unit changes a measurement's vector by at most:
units: k (L1), sqrt(k) (L2); rows: R; sums: R times the largest |grid value| (L1 and L2),
each times the resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from sqlglot import exp

from dpproxy.bounds import Interval
from dpproxy.check.checked import AggKind, CheckedQuery
from dpproxy.errors import InternalError, QueryLimitExceeded, QueryRejected, Violation
from dpproxy.noise import (
    DiscreteGaussian,
    DiscreteLaplace,
    Mechanism,
    make_gaussian,
    make_laplace,
    selection_threshold,
)
from dpproxy.policy.model import Accounting
from dpproxy.sqlstate import SQLState

GRID_STEPS = 2**16  # a non-integer measure's range is cut into at least this many steps
EXACT_INTEGERS = 2**24  # integer measures up to this magnitude are summed exactly (step 1)
# Per-row magnitude (in the measurement's units) that contribution scaling works at: a
# count (1 per row) is scaled in units of 2^-16, so rounding toward zero loses at most
# 2^-16 of a row per group and unit, instead of up to one row.
CLIP_RESOLUTION = 2**16
# Accuracy figures and selection thresholds are computed in floating point from the
# noise scale; beyond these scales they lose all precision (exp(-1/scale) rounds to 1) or
# take minutes (the discrete Gaussian's tail is summed term by term). Such noise would
# drown any answer anyway, so the query is refused before anything runs.
MAX_LAPLACE_SCALE = Fraction(2**50)
MAX_GAUSSIAN_SIGMA2 = Fraction(2**100)
MAX_SELECTION_SIGMA2 = Fraction(2**14)


class MeasureKind(StrEnum):
    UNITS = "units"  # distinct privacy units per group
    ROWS = "rows"  # rows per group
    VALUES = "values"  # rows whose value is not NULL
    SUM = "sum"
    CENTRED_SUM = "centred_sum"  # sum of (value - centre), for AVG and VARIANCE
    CENTRED_SQUARES = "centred_squares"  # sum of (value - centre)^2 - centre2, for VARIANCE


@dataclass(frozen=True)
class Grid:
    """Fixed-point encoding of a bounded value: ``round(clamp(v) / step)`` as an integer.

    Sums of these integers are exact (HUGEINT); noise is added on the integer grid and
    the result multiplied by ``step`` (a power of two, so the product is exact).
    """

    step: Fraction
    lo: int  # grid bounds (integers)
    hi: int
    centre: int
    value_lo: Fraction  # the value bounds the grid was made for
    value_hi: Fraction

    @classmethod
    def for_bounds(cls, bounds: Interval) -> Grid:
        if bounds.integer and bounds.magnitude <= EXACT_INTEGERS:
            step = Fraction(1)
        else:  # a power of two: the range cut into about GRID_STEPS steps
            width = max(bounds.hi - bounds.lo, bounds.magnitude, Fraction(1, 2**20))
            step = Fraction(2) ** (math.floor(math.log2(width)) - 16)
            if bounds.integer:
                step = max(step, Fraction(1))
        lo = math.floor(bounds.lo / step)
        hi = math.ceil(bounds.hi / step)
        return cls(step, lo, hi, (lo + hi) // 2, bounds.lo, bounds.hi)

    @property
    def max_abs(self) -> int:
        return max(abs(self.lo), abs(self.hi))

    @property
    def max_centred(self) -> int:
        return max(self.centre - self.lo, self.hi - self.centre)

    @property
    def square_centre(self) -> int:
        return self.max_centred**2 // 2

    @property
    def max_square_deviation(self) -> int:
        top = self.max_centred**2
        return max(self.square_centre, top - self.square_centre)


@dataclass(frozen=True)
class Measurement:
    kind: MeasureKind
    argument: exp.Expr | None  # the value (or COUNT) expression, qualified
    grid: Grid | None  # for sums
    sensitivity_l1: Fraction  # in grid units
    sensitivity_l2_squared: Fraction
    epsilon: Fraction  # pure accounting; 0 under zCDP
    rho: Fraction  # zCDP accounting; 0 under pure
    mechanism: Mechanism
    unit: Fraction  # the released value is (exact + noise) * unit
    resolution: int = 1  # contributions are scaled in 1/resolution of the grid step
    scaled_by: int | None = None  # index of the VALUES count whose factor scales this one

    def in_grid_units(self, noisy: int) -> Fraction:
        """A noisy value of this measurement in grid units (a count's step is one row)."""
        return Fraction(noisy, self.resolution)

    @property
    def label(self) -> str:
        arg = self.argument.sql("duckdb") if self.argument is not None else ""
        return f"{self.kind.value}({arg})"


@dataclass(frozen=True)
class AggregatePlan:
    """How one aggregate the analyst asked for is computed from measurements."""

    kind: AggKind
    measurements: tuple[int, ...]  # indices into QueryPlan.measurements
    bounds: Interval | None  # of the argument, to clamp derived values
    grid: Grid | None


@dataclass(frozen=True)
class Selection:
    """Which groups are released: by noisy unit count, never by an exact one."""

    measurement: int  # index of the UNITS measurement
    threshold: int  # 0 when the keys are public (no partition selection)
    min_group_size: int

    @property
    def minimum(self) -> int:
        return max(self.threshold, self.min_group_size)


@dataclass(frozen=True)
class QueryPlan:
    query: CheckedQuery
    accounting: Accounting
    requested_epsilon: Fraction  # what the analyst asked this query to cost
    epsilon: Fraction  # charged under pure accounting (0 under zCDP)
    delta: Fraction  # charged only when partition selection runs
    rho: Fraction  # charged under zCDP: epsilon^2 / 2 (0 under pure)
    measurements: tuple[Measurement, ...]
    aggregates: tuple[AggregatePlan, ...]
    selection: Selection | None
    groups_per_unit: int  # k: groups a unit is counted in (all groups it touches, when selecting)

    @property
    def public_keys(self) -> bool:
        return all(k.public_values is not None for k in self.query.keys)

    def verify(self) -> None:
        """Recompute the loss from the measurements; a mismatch is a bug, never charged."""
        spent_epsilon = sum((m.epsilon for m in self.measurements), Fraction(0))
        spent_rho = sum((m.rho for m in self.measurements), Fraction(0))
        if self.accounting is Accounting.PURE:
            ok = spent_epsilon == self.epsilon and spent_rho == 0
        else:
            ok = spent_rho == self.rho and spent_epsilon == 0
        uses_delta = self.selection is not None and self.selection.threshold > 0
        if not ok or (self.delta > 0) != uses_delta:
            raise InternalError("privacy plan does not add up; nothing was charged")
        for m in self.measurements:
            rebuilt = _mechanism(
                self.accounting, m.sensitivity_l1, m.sensitivity_l2_squared, m.epsilon, m.rho
            )
            if rebuilt != m.mechanism:
                raise InternalError("a mechanism does not match its sensitivity and budget")


def make_plan(
    query: CheckedQuery,
    epsilon: Fraction,
    delta: Fraction,
    accounting: Accounting,
) -> QueryPlan:
    """Decide the measurements, split the budget equally, calibrate each mechanism."""
    builder = _Builder(query)
    for call in query.aggregates:
        builder.add_aggregate(call.kind, call.argument, call.bounds)
    needs_selection = not all(k.public_values is not None for k in query.keys)
    if needs_selection or query.min_group_size > 0:
        builder.units()
    specs = builder.specs
    n = len(specs)
    rho = epsilon * epsilon / 2
    if accounting is Accounting.PURE:
        shares_eps, shares_rho = epsilon / n, Fraction(0)
    else:
        shares_eps, shares_rho = Fraction(0), rho / n
    measurements = tuple(
        Measurement(
            spec.kind,
            spec.argument,
            spec.grid,
            spec.l1,
            spec.l2_squared,
            shares_eps,
            shares_rho,
            _mechanism(accounting, spec.l1, spec.l2_squared, shares_eps, shares_rho),
            spec.unit,
            spec.resolution,
            spec.scaled_by,
        )
        for spec in specs
    )
    _check_scales(measurements)
    selection = None
    query_delta = Fraction(0)
    units = builder.units_index
    if units is not None and (needs_selection or query.min_group_size > 0):
        threshold = 0
        if needs_selection:
            if delta <= 0:
                raise QueryRejected(
                    [
                        Violation(
                            SQLState.INSUFFICIENT_PRIVILEGE,
                            "GROUP BY",
                            "grouping by a key without a public value list needs "
                            "a per-query delta > 0 (queries.delta in dpproxy.yaml)",
                        )
                    ]
                )
            mechanism = measurements[units].mechanism
            if isinstance(mechanism, DiscreteGaussian) and mechanism.sigma2 > MAX_SELECTION_SIGMA2:
                raise _too_little_epsilon("the noisy group sizes used to select groups")
            threshold = selection_threshold(mechanism, builder.k, delta)
            query_delta = delta
        selection = Selection(units, threshold, query.min_group_size)
    plan = QueryPlan(
        query,
        accounting,
        epsilon,
        epsilon if accounting is Accounting.PURE else Fraction(0),
        query_delta,
        rho if accounting is Accounting.ZCDP else Fraction(0),
        measurements,
        tuple(builder.aggregates),
        selection,
        builder.k,
    )
    plan.verify()
    return plan


def _check_scales(measurements: tuple[Measurement, ...]) -> None:
    for m in measurements:
        mechanism = m.mechanism
        if isinstance(mechanism, DiscreteLaplace):
            too_large = mechanism.scale > MAX_LAPLACE_SCALE
        else:
            too_large = mechanism.sigma2 > MAX_GAUSSIAN_SIGMA2
        if too_large:
            raise _too_little_epsilon(m.label)


def _too_little_epsilon(what: str) -> QueryLimitExceeded:
    return QueryLimitExceeded(
        f"epsilon is too small for this query: the noise on {what} would be too large "
        "to compute its accuracy; ask for a larger epsilon"
    )


def _mechanism(
    accounting: Accounting, l1: Fraction, l2_squared: Fraction, epsilon: Fraction, rho: Fraction
) -> Mechanism:
    if accounting is Accounting.PURE:
        return make_laplace(l1, epsilon)
    return make_gaussian(l2_squared, rho)


@dataclass(frozen=True)
class _Spec:
    kind: MeasureKind
    argument: exp.Expr | None
    grid: Grid | None
    l1: Fraction
    l2_squared: Fraction
    unit: Fraction
    resolution: int
    scaled_by: int | None


def resolution_for(per_row: int) -> int:
    """The smallest power of two r with per_row * r >= CLIP_RESOLUTION."""
    r = 1
    while per_row * r < CLIP_RESOLUTION:
        r *= 2
    return r


class _Builder:
    """Collects the distinct measurements the aggregates need."""

    def __init__(self, query: CheckedQuery) -> None:
        self.rows = query.max_rows_per_unit
        # without GROUP BY there is one group: a unit is counted once
        self.k = min(query.max_groups_per_unit, self.rows) if query.keys else 1
        # With public keys a unit's count over its groups is scaled to an L1 norm of k
        # (1/g in each of its g groups when g > k) instead of ranking its groups; with
        # partition selection a unit must create at most k groups, so it is ranked.
        self.scale_units = bool(query.keys) and all(k.public_values is not None for k in query.keys)
        self.specs: list[_Spec] = []
        self.aggregates: list[AggregatePlan] = []
        self.units_index: int | None = None

    def _add(
        self,
        kind: MeasureKind,
        arg: exp.Expr | None,
        grid: Grid | None,
        per_row: int,
        unit: Fraction,
        scaled_by: int | None = None,
    ) -> int:
        for index, spec in enumerate(self.specs):
            if spec.kind == kind and spec.argument == arg:
                if spec.scaled_by != scaled_by:
                    raise InternalError("one measurement scaled two ways")
                return index
        resolution = 1
        if kind is MeasureKind.UNITS:
            # ranked: k ones; scaled: g entries of at most k / g (L2 norm sqrt(k / g))
            resolution = CLIP_RESOLUTION if self.scale_units else 1
            l1 = Fraction(self.k * resolution)
            l2sq = Fraction(self.k * resolution * resolution)
        else:
            per_row = max(per_row, 1)  # a constant argument: any positive bound is an upper bound
            resolution = resolution_for(per_row)
            l1 = Fraction(self.rows * per_row * resolution)
            l2sq = l1 * l1
        spec = _Spec(kind, arg, grid, l1, l2sq, unit / resolution, resolution, scaled_by)
        self.specs.append(spec)
        return len(self.specs) - 1

    def units(self) -> int:
        if self.units_index is None:
            self.units_index = self._add(MeasureKind.UNITS, None, None, 1, Fraction(1))
        return self.units_index

    def add_aggregate(self, kind: AggKind, arg: exp.Expr | None, bounds: Interval | None) -> None:
        grid = Grid.for_bounds(bounds) if bounds is not None else None
        one = Fraction(1)
        if kind is AggKind.COUNT_ROWS and self.rows == 1:
            # a unit worth one row counts once: the row count is the unit count
            used: tuple[int, ...] = (self.units(),)
        elif kind is AggKind.COUNT_ROWS:
            used = (self._add(MeasureKind.ROWS, None, None, 1, one),)
        elif kind is AggKind.COUNT_UNITS:
            used = (self.units(),)
        elif kind is AggKind.COUNT_VALUES:
            used = (self._add(MeasureKind.VALUES, arg, None, 1, one),)
        elif kind is AggKind.SUM:
            assert grid is not None
            used = (self._add(MeasureKind.SUM, arg, grid, grid.max_abs, grid.step),)
        else:
            assert grid is not None
            count = self._add(MeasureKind.VALUES, arg, None, 1, one)
            total = self._add(
                MeasureKind.CENTRED_SUM, arg, grid, grid.max_centred, grid.step, count
            )
            used = (count, total)
            if kind is not AggKind.AVG:
                squares = self._add(
                    MeasureKind.CENTRED_SQUARES,
                    arg,
                    grid,
                    grid.max_square_deviation,
                    grid.step**2,
                    count,
                )
                used = (count, total, squares)
        self.aggregates.append(AggregatePlan(kind, used, bounds, grid))
