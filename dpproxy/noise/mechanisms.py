"""Mechanisms: a noise distribution calibrated to a sensitivity and a privacy parameter.

``make_laplace`` and ``make_gaussian`` build a mechanism from its preconditions and
record its scale; ``sample`` draws from the exact samplers in ``samplers``. Accuracy
figures (variance, 95% half-width) are computed from the exact pmf, not from data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from dpproxy.noise.samplers import discrete_gaussian, discrete_laplace


@dataclass(frozen=True)
class DiscreteLaplace:
    """Adds Z with P[Z = z] proportional to exp(-|z| / scale) to an integer.

    Privacy: for integer queries with L1 sensitivity Δ, scale = Δ / ε gives ε-DP, since
    P[z] / P[z'] <= exp(|z - z'| / scale) <= exp(ε) for |z - z'| <= Δ (Ghosh et al. 2009;
    CKS 2020, Proposition 2).
    """

    scale: Fraction
    name = "discrete_laplace"

    def sample(self) -> int:
        return discrete_laplace(self.scale)

    @property
    def _r(self) -> float:
        return math.exp(-1 / float(self.scale))

    def variance(self) -> float:
        r = self._r
        return 2 * r / (1 - r) ** 2

    def tail(self, m: int) -> float:
        """P[Z >= m] for m >= 1."""
        r = self._r
        return r**m / (1 + r)

    def half_width(self, confidence: float = 0.95) -> int:
        """The smallest h with P[|Z| <= h] >= confidence."""
        r = self._r
        # P[|Z| > h] = 2 r^(h+1) / (1 + r)
        h = math.ceil(math.log((1 - confidence) * (1 + r) / 2) / math.log(r) - 1)
        h = max(h, 0)
        while h > 0 and 2 * r**h / (1 + r) <= 1 - confidence:
            h -= 1
        return h


@dataclass(frozen=True)
class DiscreteGaussian:
    """Adds Z with P[Z = z] proportional to exp(-z^2 / (2 sigma2)) to an integer.

    Privacy: for integer queries with L2 sensitivity Δ, sigma2 = Δ² / (2ρ) gives ρ-zCDP
    (CKS 2020, Theorem 4).
    """

    sigma2: Fraction
    name = "discrete_gaussian"

    def sample(self) -> int:
        return discrete_gaussian(self.sigma2)

    @property
    def scale(self) -> Fraction:
        return self.sigma2

    def _pmf_terms(self) -> tuple[float, list[float]]:
        s2 = float(self.sigma2)
        span = int(12 * math.sqrt(s2)) + 12
        terms = [math.exp(-(x * x) / (2 * s2)) for x in range(span + 1)]
        total = terms[0] + 2 * math.fsum(terms[1:])
        return total, terms

    def variance(self) -> float:
        s2 = float(self.sigma2)
        if s2 > 1e6:
            return s2
        total, terms = self._pmf_terms()
        return 2 * math.fsum(x * x * t for x, t in enumerate(terms)) / total

    def tail(self, m: int) -> float:
        """P[Z >= m] for m >= 1 (numerically, with the far tail bounded above)."""
        s2 = float(self.sigma2)
        sigma = math.sqrt(s2)
        total = math.sqrt(2 * math.pi * s2) if s2 > 1e6 else self._pmf_terms()[0]
        upper = m + int(40 * sigma) + 40
        mass = math.fsum(math.exp(-(x * x) / (2 * s2)) for x in range(m, upper))
        return mass / total

    def half_width(self, confidence: float = 0.95) -> int:
        s2 = float(self.sigma2)
        if s2 > 1e6:
            return math.ceil(1.959964 * math.sqrt(s2))
        total, terms = self._pmf_terms()
        covered = terms[0] / total
        h = 0
        while covered < confidence and h + 1 < len(terms):
            h += 1
            covered += 2 * terms[h] / total
        return h


Mechanism = DiscreteLaplace | DiscreteGaussian


def make_laplace(sensitivity: Fraction, epsilon: Fraction) -> DiscreteLaplace:
    """Discrete Laplace for an integer query with L1 ``sensitivity`` at ``epsilon``."""
    if sensitivity <= 0 or epsilon <= 0:
        raise ValueError("sensitivity and epsilon must be positive")
    return DiscreteLaplace(Fraction(sensitivity) / Fraction(epsilon))


def make_gaussian(sensitivity_squared: Fraction, rho: Fraction) -> DiscreteGaussian:
    """Discrete Gaussian for an integer query with squared L2 sensitivity at ``rho``."""
    if sensitivity_squared <= 0 or rho <= 0:
        raise ValueError("sensitivity and rho must be positive")
    return DiscreteGaussian(Fraction(sensitivity_squared) / (2 * Fraction(rho)))


def selection_threshold(mechanism: Mechanism, groups_per_unit: int, delta: Fraction) -> int:
    """The smallest integer threshold τ at which releasing a group only when its noisy
    unit count is at least τ adds at most ``delta`` to the privacy loss.

    A unit alone in up to ``groups_per_unit`` groups makes each appear with count 1;
    each is released with probability P[1 + Z >= τ], which must stay within
    1 - (1 - δ)^(1/k) (Wilson et al. 2020, Laplace thresholding; the same union argument
    holds for the discrete Gaussian).
    """
    if delta <= 0:
        raise ValueError("partition selection needs delta > 0")
    k = groups_per_unit
    per_group = -math.expm1(math.log1p(-float(delta)) / k)
    m = 1
    if isinstance(mechanism, DiscreteLaplace):
        r = math.exp(-1 / float(mechanism.scale))
        m = max(1, math.ceil(math.log(per_group * (1 + r)) / math.log(r) * (1 + 1e-12)))
    while mechanism.tail(m) > per_group:
        m += 1
    return m + 1
