"""Exact budget arithmetic, zCDP conversion, refresh periods."""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction

import pytest

from dpproxy.accounting.budget import Cost, Limit, exact, max_rho, period_start
from dpproxy.policy.model import Accounting, BudgetPolicy


def test_user_floats_are_their_decimal_text() -> None:
    assert exact(0.1) == Fraction(1, 10)
    assert exact(1e-7) == Fraction(1, 10**7)
    with pytest.raises(ValueError):
        exact(float("inf"))


def test_charges_round_up_and_budgets_round_down() -> None:
    assert Cost.of(Fraction(1, 3), Fraction(0), Fraction(0)).epsilon == 333_333_333_334
    limit = Limit.of(BudgetPolicy(epsilon=1.0, delta=1e-6), Accounting.PURE)
    three_thirds = Cost.of(Fraction(1, 3), Fraction(0), Fraction(0))
    assert not limit.allows(three_thirds + three_thirds + three_thirds)  # rounding never helps
    assert limit.allows(Cost.of(Fraction(1), Fraction(1, 10**6), Fraction(0)))
    assert not limit.allows(Cost.of(Fraction(1) + Fraction(1, 10**12), Fraction(0), Fraction(0)))


@pytest.mark.parametrize(("epsilon", "delta"), [(1.0, 1e-6), (0.1, 1e-9), (10.0, 1e-5)])
def test_max_rho_converts_within_the_budget(epsilon: float, delta: float) -> None:
    rho = max_rho(exact(epsilon), exact(delta)) / 10**12
    converted = rho + 2 * math.sqrt(rho * math.log(1 / delta))
    assert converted <= epsilon
    assert converted > epsilon * 0.999  # and it is not needlessly conservative


def test_zcdp_limit_keeps_half_of_delta_for_selection() -> None:
    limit = Limit.of(BudgetPolicy(epsilon=1.0, delta=1e-6), Accounting.ZCDP)
    assert limit.delta == 5 * 10**11  # 0.5e-6 in units of 1e-18
    assert limit.rho == max_rho(Fraction(1), Fraction(1, 2 * 10**6))
    with pytest.raises(ValueError):
        Limit.of(BudgetPolicy(epsilon=1.0, delta=0), Accounting.ZCDP)


def test_period_start() -> None:
    wednesday = dt.datetime(2026, 11, 18, 15, 30, tzinfo=dt.UTC).timestamp()
    assert period_start("none", wednesday) is None
    day = dt.datetime.fromtimestamp(period_start("daily", wednesday) or 0, tz=dt.UTC)
    week = dt.datetime.fromtimestamp(period_start("weekly", wednesday) or 0, tz=dt.UTC)
    month = dt.datetime.fromtimestamp(period_start("monthly", wednesday) or 0, tz=dt.UTC)
    assert (day.day, day.hour) == (18, 0)
    assert (week.day, week.weekday()) == (16, 0)
    assert (month.month, month.day) == (11, 1)
