"""The privacy plan: measurements, their resolutions and sensitivities."""

from __future__ import annotations

from fractions import Fraction

import pytest

from dpproxy.check import check
from dpproxy.parse import parse
from dpproxy.plan import CLIP_RESOLUTION, MeasureKind, QueryPlan, make_plan, resolution_for
from dpproxy.policy.model import Accounting
from dpproxy.proxy import Proxy


def _plan(proxy: Proxy, sql: str) -> QueryPlan:
    query = check(parse(sql), proxy.catalog)
    return make_plan(query, Fraction(1), Fraction(1, 10**7), Accounting.PURE)


@pytest.mark.parametrize(
    ("per_row", "expected"), [(1, 2**16), (20, 2**12), (100, 2**10), (2**16, 1), (2**30, 1)]
)
def test_resolution_is_the_smallest_power_of_two_reaching_the_target(
    per_row: int, expected: int
) -> None:
    assert resolution_for(per_row) == expected
    assert per_row * expected >= CLIP_RESOLUTION
    assert expected == 1 or per_row * expected // 2 < CLIP_RESOLUTION


def test_a_count_is_measured_in_fractions_of_a_row(proxy: Proxy) -> None:
    """The resolution multiplies the sensitivity and divides the released unit, so the
    noise in released units is unchanged: R / epsilon for a row count."""
    plan = _plan(proxy, "SELECT COUNT(*) FROM purchases")
    (rows,) = [m for m in plan.measurements if m.kind is MeasureKind.ROWS]
    assert rows.resolution == 2**16
    assert rows.sensitivity_l1 == 20 * 2**16
    assert rows.sensitivity_l1 * rows.unit == 20
    assert rows.mechanism.scale * rows.unit == 20 / rows.epsilon  # Laplace b, in rows


def test_the_sums_behind_an_average_follow_their_count(proxy: Proxy) -> None:
    plan = _plan(proxy, "SELECT STDDEV(amount), SUM(amount) FROM purchases")
    kinds = {m.kind: (i, m) for i, m in enumerate(plan.measurements)}
    values = kinds[MeasureKind.VALUES][0]
    assert kinds[MeasureKind.VALUES][1].scaled_by is None
    assert kinds[MeasureKind.CENTRED_SUM][1].scaled_by == values
    assert kinds[MeasureKind.CENTRED_SQUARES][1].scaled_by == values
    assert kinds[MeasureKind.SUM][1].scaled_by is None  # a sum alone: its own L1 norm


def test_units_are_scaled_only_over_public_keys(proxy: Proxy) -> None:
    """A unit is counted in at most k = min(G, R) groups, and in one when there is no
    GROUP BY. Over keys selected from the data it is counted whole in k of its groups
    (ranked: partition selection needs a unit to create at most k groups); over public
    keys it counts k/g in each of its g groups, at a finer resolution, same L1 bound."""
    sql = "SELECT COUNT(DISTINCT loyalty_number) FROM purchases"
    (units,) = _plan(proxy, sql).measurements
    assert units.kind is MeasureKind.UNITS
    assert units.resolution == 1 and units.sensitivity_l1 == 1
    (units,) = _plan(proxy, sql + " GROUP BY product").measurements
    assert units.resolution == 1 and units.sensitivity_l1 == 6
    public = (
        "SELECT pr.category, COUNT(DISTINCT p.loyalty_number) FROM purchases p "
        "JOIN products pr ON p.product = pr.product GROUP BY pr.category"
    )
    (units,) = _plan(proxy, public).measurements
    assert units.resolution == CLIP_RESOLUTION > 1
    assert units.sensitivity_l1 * units.unit == 6  # k = 6 rows' worth in output units
