"""The exact samplers against their exact distributions, over a range of scales.

``test_mechanisms.py`` checks variances and one goodness of fit per mechanism; here each
sampler's empirical distribution is compared with the exact pmf at fractional, unit,
medium and very large scales: a chi-square test over bins of equal exact probability,
a Dvoretzky-Kiefer-Wolfowitz bound on the largest CDF gap, and a symmetry test. Each
test fails a correct sampler with probability below 1e-4; ``test_*_has_teeth`` shows the
same tests reject a sampler whose scale is off by 10%.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable
from fractions import Fraction

import pytest
from scipy import stats

from dpproxy.noise.samplers import bernoulli, bernoulli_exp, discrete_gaussian, discrete_laplace
from tests.privacy.loss import clopper_pearson

N = 20_000
SIGNIFICANCE = 1e-4
BINS = 40

Cdf = Callable[[int], float]  # P[X <= x]


def laplace_cdf(scale: Fraction) -> Cdf:
    r = math.exp(-1 / float(scale))

    def cdf(x: int) -> float:
        return 1 - r ** (x + 1) / (1 + r) if x >= 0 else r ** (-x) / (1 + r)

    return cdf


def gaussian_cdf(sigma2: Fraction) -> Cdf:
    s2 = float(sigma2)
    span = int(14 * math.sqrt(s2)) + 20
    weights = [math.exp(-(x * x) / (2 * s2)) for x in range(-span, span + 1)]
    total = math.fsum(weights)
    cumulative, running = [], 0.0
    for w in weights:
        running += w
        cumulative.append(running / total)

    def cdf(x: int) -> float:
        if x < -span:
            return 0.0
        return 1.0 if x >= span else cumulative[x + span]

    return cdf


def _quantile(cdf: Cdf, q: float, lo: int, hi: int) -> int:
    """The smallest integer x in [lo, hi] with cdf(x) >= q."""
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf(mid) >= q:
            hi = mid
        else:
            lo = mid + 1
    return lo


def chi_square(samples: list[int], cdf: Cdf, reach: int) -> float:
    """p-value of the samples against ``cdf``, in bins of (about) equal exact mass."""
    edges = sorted({_quantile(cdf, i / BINS, -reach, reach) for i in range(1, BINS)})
    observed = Counter(bisect.bisect_left(edges, x) for x in samples)
    expected, previous = [], 0.0
    for edge in [*edges, reach + 1]:
        mass = cdf(edge) if edge <= reach else 1.0
        expected.append((mass - previous) * len(samples))
        previous = mass
    counts = [observed.get(i, 0) for i in range(len(expected))]
    assert min(expected) >= 5, expected
    return float(stats.chisquare(counts, expected).pvalue)


def largest_cdf_gap(samples: list[int], cdf: Cdf) -> float:
    counts = Counter(samples)
    gap, seen = 0.0, 0
    for x in sorted(counts):
        gap = max(gap, abs(seen / len(samples) - cdf(x - 1)))
        seen += counts[x]
        gap = max(gap, abs(seen / len(samples) - cdf(x)))
    return gap


def _check(samples: list[int], cdf: Cdf, reach: int) -> None:
    assert chi_square(samples, cdf, reach) > SIGNIFICANCE
    dkw = math.sqrt(math.log(2 / SIGNIFICANCE) / (2 * len(samples)))
    assert largest_cdf_gap(samples, cdf) < dkw
    positive = sum(x > 0 for x in samples)
    negative = sum(x < 0 for x in samples)
    assert stats.binomtest(positive, positive + negative, 0.5).pvalue > SIGNIFICANCE


LAPLACE_SCALES = [Fraction(1, 3), Fraction(1), Fraction(7, 3), Fraction(40), Fraction(10**9, 7)]
GAUSSIAN_SIGMA2 = [Fraction(1, 4), Fraction(1), Fraction(5, 2), Fraction(100), Fraction(10**6)]


@pytest.mark.slow
@pytest.mark.parametrize("scale", LAPLACE_SCALES, ids=str)
def test_discrete_laplace_matches_its_pmf(scale: Fraction) -> None:
    samples = [discrete_laplace(scale) for _ in range(N)]
    _check(samples, laplace_cdf(scale), reach=int(40 * scale) + 40)


@pytest.mark.slow
@pytest.mark.parametrize("sigma2", GAUSSIAN_SIGMA2, ids=str)
def test_discrete_gaussian_matches_its_pmf(sigma2: Fraction) -> None:
    samples = [discrete_gaussian(sigma2) for _ in range(N)]
    _check(samples, gaussian_cdf(sigma2), reach=int(14 * math.sqrt(sigma2)) + 20)


def test_laplace_point_masses_at_a_fractional_scale() -> None:
    """P[X = 0] and P[X = 1] for scale 2/3 (t/s with s > 1 takes the rounding path)."""
    scale = Fraction(2, 3)
    r = math.exp(-1 / float(scale))
    samples = Counter(discrete_laplace(scale) for _ in range(N))
    for x in (0, 1, -1, 2):
        lo, hi = clopper_pearson(samples[x], N, SIGNIFICANCE)
        assert lo <= (1 - r) / (1 + r) * r ** abs(x) <= hi, x


@pytest.mark.parametrize("gamma", [Fraction(1, 3), Fraction(1), Fraction(5, 2), Fraction(7)])
def test_bernoulli_exp_matches_exp_minus_gamma(gamma: Fraction) -> None:
    hits = sum(bernoulli_exp(gamma) for _ in range(N))
    lo, hi = clopper_pearson(hits, N, SIGNIFICANCE)
    assert lo <= math.exp(-gamma) <= hi


def test_bernoulli_with_a_large_denominator() -> None:
    p = Fraction(2**61 - 1, 2**62)  # just under one half, not a float
    hits = sum(bernoulli(p) for _ in range(N))
    lo, hi = clopper_pearson(hits, N, SIGNIFICANCE)
    assert lo <= float(p) <= hi


def test_consecutive_draws_are_uncorrelated() -> None:
    samples = [discrete_laplace(Fraction(3)) for _ in range(N)]
    r, p_value = stats.pearsonr(samples[:-1], samples[1:])
    assert p_value > SIGNIFICANCE, r


def test_laplace_tests_have_teeth() -> None:
    """A sampler 10% too narrow fails the same checks."""
    scale = Fraction(1)
    samples = [discrete_laplace(scale * Fraction(9, 10)) for _ in range(N)]
    assert chi_square(samples, laplace_cdf(scale), reach=80) < SIGNIFICANCE


def test_gaussian_tests_have_teeth() -> None:
    sigma2 = Fraction(4)
    samples = [discrete_gaussian(sigma2 * Fraction(9, 10)) for _ in range(N)]
    assert chi_square(samples, gaussian_cdf(sigma2), reach=60) < SIGNIFICANCE
