"""Exact budget arithmetic.

Amounts are stored as integers: epsilon and rho in units of 1e-12, delta in units of
1e-18. A charge is rounded up and a budget rounded down, so rounding never lets an
analyst spend more than granted. User floats enter through their shortest decimal text
(0.1 means exactly 1/10).

Under zCDP, a budget (epsilon, delta) becomes a limit on total rho: half of delta is kept
for the conversion epsilon = rho + 2 sqrt(rho ln(1/delta')) (Bun and Steinke 2016), the
other half for the delta of partition selection.

>>> Cost.of(Fraction(1, 2), Fraction(0), Fraction(0)).epsilon
500000000000
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from dpproxy.policy.model import Accounting, BudgetPolicy

EPSILON_UNIT = 10**12  # per 1 epsilon (and per 1 rho)
DELTA_UNIT = 10**18  # per 1 delta


def exact(value: float | int | str | Fraction) -> Fraction:
    """A user-supplied number as the exact decimal it was written as."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return Fraction(repr(value))
    return Fraction(value)


def units_up(value: Fraction, unit: int) -> int:
    return math.ceil(value * unit)


def units_down(value: Fraction, unit: int) -> int:
    return math.floor(value * unit)


@dataclass(frozen=True)
class Cost:
    """What one query is charged, in integer units."""

    epsilon: int
    delta: int
    rho: int

    @classmethod
    def of(cls, epsilon: Fraction, delta: Fraction, rho: Fraction) -> Cost:
        return cls(
            units_up(epsilon, EPSILON_UNIT),
            units_up(delta, DELTA_UNIT),
            units_up(rho, EPSILON_UNIT),
        )

    @property
    def zero(self) -> bool:
        return self.epsilon == self.delta == self.rho == 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.epsilon + other.epsilon, self.delta + other.delta, self.rho + other.rho)

    @property
    def epsilon_value(self) -> Fraction:
        return Fraction(self.epsilon, EPSILON_UNIT)

    @property
    def delta_value(self) -> Fraction:
        return Fraction(self.delta, DELTA_UNIT)

    @property
    def rho_value(self) -> Fraction:
        return Fraction(self.rho, EPSILON_UNIT)


ZERO = Cost(0, 0, 0)


@dataclass(frozen=True)
class Limit:
    """A budget in integer units, in the form the ledger compares against."""

    accounting: Accounting
    epsilon: int  # pure: total epsilon
    delta: int  # total delta (pure), or the half kept for selection (zCDP)
    rho: int  # zCDP: total rho that converts to at most (epsilon, delta/2)
    budget: BudgetPolicy

    @classmethod
    def of(cls, budget: BudgetPolicy, accounting: Accounting) -> Limit:
        epsilon = units_down(exact(budget.epsilon), EPSILON_UNIT)
        delta = exact(budget.delta)
        if accounting is Accounting.PURE:
            return cls(accounting, epsilon, units_down(delta, DELTA_UNIT), 0, budget)
        if delta <= 0:
            raise ValueError("zCDP accounting needs a budget delta > 0")
        rho = max_rho(exact(budget.epsilon), delta / 2)
        return cls(accounting, epsilon, units_down(delta / 2, DELTA_UNIT), rho, budget)

    def allows(self, spent: Cost) -> bool:
        if self.accounting is Accounting.PURE:
            return spent.epsilon <= self.epsilon and spent.delta <= self.delta
        return spent.rho <= self.rho and spent.delta <= self.delta

    def remaining(self, spent: Cost) -> tuple[Fraction, Fraction]:
        """Remaining (epsilon, delta) as the analyst reads them."""
        delta_left = Fraction(max(self.delta - spent.delta, 0), DELTA_UNIT)
        if self.accounting is Accounting.PURE:
            return Fraction(max(self.epsilon - spent.epsilon, 0), EPSILON_UNIT), delta_left
        rho_left = Fraction(max(self.rho - spent.rho, 0), EPSILON_UNIT)
        # the epsilon a fresh query could still ask for: rho = epsilon^2 / 2
        return Fraction(math.floor(math.sqrt(2 * rho_left) * 10**9), 10**9), delta_left

    def spent_epsilon(self, spent: Cost) -> Fraction:
        """Spent so far, as epsilon (zCDP: the converted epsilon of the spent rho)."""
        if self.accounting is Accounting.PURE:
            return Fraction(spent.epsilon, EPSILON_UNIT)
        rho = spent.rho / EPSILON_UNIT
        log_term = math.log(1 / float(exact(self.budget.delta) / 2))
        return Fraction(rho + 2 * math.sqrt(rho * log_term)).limit_denominator(10**9)


def max_rho(epsilon: Fraction, delta: Fraction) -> int:
    """The largest total rho (in units, rounded down with a margin) whose conversion
    rho + 2 sqrt(rho ln(1/delta)) stays within epsilon."""
    log_term = math.log(1 / float(delta))
    root = math.sqrt(log_term + float(epsilon)) - math.sqrt(log_term)
    return max(0, math.floor(root * root * (1 - 1e-9) * EPSILON_UNIT))


def period_start(refresh: str, now: float) -> float | None:
    """Start (UTC) of the current budget period, or None when budgets never refresh.

    A refresh grants the whole budget again each period: over a year of monthly
    refreshes an analyst may spend 12 times the budget on the same people, and the
    privacy guarantee over that year is 12 times weaker. Off by default.
    """
    import datetime as dt

    if refresh == "none":
        return None
    today = dt.datetime.fromtimestamp(now, tz=dt.UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    if refresh == "daily":
        start = today
    elif refresh == "weekly":
        start = today - dt.timedelta(days=today.weekday())
    elif refresh == "monthly":
        start = today.replace(day=1)
    else:
        raise ValueError(f"unknown refresh period {refresh!r}")
    return start.timestamp()
