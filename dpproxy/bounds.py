"""Interval arithmetic: the bounds of an expression from the declared bounds of measures.

Exact (``Fraction``) so that a sensitivity is never underestimated by rounding. Every
intermediate result is kept within ``LIMIT`` so the engine, which computes aggregate
arguments in DOUBLE, evaluates integers exactly and cannot overflow.

>>> Interval.of(0, 100).mul(Interval.point(Fraction(11, 10)))
Interval(lo=Fraction(0, 1), hi=Fraction(110, 1), integer=False)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

LIMIT = Fraction(2**52)


class BoundsError(ValueError):
    """An expression whose bounds cannot be derived or are too large."""


@dataclass(frozen=True)
class Interval:
    lo: Fraction
    hi: Fraction
    integer: bool  # every value in the interval that the expression takes is an integer

    def __post_init__(self) -> None:
        if self.lo > self.hi:
            raise BoundsError("empty interval")
        if max(abs(self.lo), abs(self.hi)) > LIMIT:
            raise BoundsError("bounds exceed 2**52 in magnitude")

    @classmethod
    def of(cls, lo: Fraction | int, hi: Fraction | int, integer: bool = False) -> Interval:
        return cls(Fraction(lo), Fraction(hi), integer)

    @classmethod
    def point(cls, value: Fraction) -> Interval:
        return cls(value, value, value.denominator == 1)

    @property
    def magnitude(self) -> Fraction:
        return max(abs(self.lo), abs(self.hi))

    def add(self, other: Interval) -> Interval:
        return Interval(self.lo + other.lo, self.hi + other.hi, self.integer and other.integer)

    def neg(self) -> Interval:
        return Interval(-self.hi, -self.lo, self.integer)

    def sub(self, other: Interval) -> Interval:
        return self.add(other.neg())

    def mul(self, other: Interval) -> Interval:
        products = [a * b for a in (self.lo, self.hi) for b in (other.lo, other.hi)]
        return Interval(min(products), max(products), self.integer and other.integer)

    def div(self, other: Interval) -> Interval:
        """Real division; the divisor interval must exclude zero."""
        if other.lo <= 0 <= other.hi:
            raise BoundsError("the divisor may be zero")
        quotients = [a / b for a in (self.lo, self.hi) for b in (other.lo, other.hi)]
        return Interval(min(quotients), max(quotients), False)

    def trunc_div(self, other: Interval) -> Interval:
        """Integer division truncating toward zero (PostgreSQL ``int / int``)."""
        real = self.div(other)
        return Interval(Fraction(math.floor(real.lo)), Fraction(math.ceil(real.hi)), True)

    def abs(self) -> Interval:
        if self.lo >= 0:
            return self
        if self.hi <= 0:
            return self.neg()
        return Interval(Fraction(0), self.magnitude, self.integer)

    def union(self, other: Interval) -> Interval:
        return Interval(
            min(self.lo, other.lo), max(self.hi, other.hi), self.integer and other.integer
        )

    def least(self, other: Interval) -> Interval:
        return Interval(
            min(self.lo, other.lo), min(self.hi, other.hi), self.integer and other.integer
        )

    def greatest(self, other: Interval) -> Interval:
        return Interval(
            max(self.lo, other.lo), max(self.hi, other.hi), self.integer and other.integer
        )

    def rounded(self) -> Interval:
        """The interval after FLOOR, CEIL, ROUND or TRUNC to an integer."""
        return Interval(Fraction(math.floor(self.lo)), Fraction(math.ceil(self.hi)), True)

    def widened(self, step: Fraction) -> Interval:
        """After rounding to a multiple of ``step`` (ROUND(x, digits))."""
        return Interval(self.lo - step, self.hi + step, self.integer)
