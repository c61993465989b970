"""Statistical tests: each mechanism's empirical distribution matches what it claims
(variance, 95% half-width, and the exact pmf for small scales)."""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import pytest
from scipy import stats

from dpproxy.noise import make_gaussian, make_laplace, selection_threshold
from dpproxy.noise.mechanisms import DiscreteGaussian, DiscreteLaplace
from dpproxy.noise.samplers import bernoulli, bernoulli_exp, discrete_laplace, zero_noise_for_tests

N = 20_000


def _variance_within(samples: list[int], claimed: float, kurtosis: float) -> None:
    mean = sum(samples) / len(samples)
    variance = sum((x - mean) ** 2 for x in samples) / (len(samples) - 1)
    standard_error = claimed * math.sqrt((kurtosis - 1) / len(samples))
    assert abs(variance - claimed) < 5 * standard_error, (variance, claimed)
    assert abs(mean) < 5 * math.sqrt(claimed / len(samples))


@pytest.mark.parametrize("scale", [Fraction(1, 2), Fraction(1), Fraction(7, 2), Fraction(20)])
def test_discrete_laplace_variance(scale: Fraction) -> None:
    mechanism = DiscreteLaplace(scale)
    samples = [mechanism.sample() for _ in range(N)]
    _variance_within(samples, mechanism.variance(), kurtosis=6.5)


@pytest.mark.parametrize("sigma2", [Fraction(1, 2), Fraction(4), Fraction(225)])
def test_discrete_gaussian_variance(sigma2: Fraction) -> None:
    mechanism = DiscreteGaussian(sigma2)
    samples = [mechanism.sample() for _ in range(N)]
    _variance_within(samples, mechanism.variance(), kurtosis=3.2)


def _pooled(observed: list[int], expected: list[float]) -> tuple[list[int], list[float]]:
    """Chi-square bins with an expected count of at least 5: sparse bins (the tails) are
    pooled into their neighbour towards the centre, and the rest of the mass outside the
    support is one more bin. Without pooling a single draw in a far tail bin (expected
    0.001) fails a correct sampler about once in 40 runs."""
    observed, expected = list(observed), list(expected)
    tail_observed, tail_expected = N - sum(observed), N - sum(expected)
    while expected[0] < 5:
        first_observed, first_expected = observed.pop(0), expected.pop(0)
        observed[0] += first_observed
        expected[0] += first_expected
    while expected[-1] < 5:
        last_observed, last_expected = observed.pop(), expected.pop()
        observed[-1] += last_observed
        expected[-1] += last_expected
    if tail_expected >= 5:
        return [*observed, tail_observed], [*expected, tail_expected]
    # too little mass outside the support for its own bin: it joins the first bin
    observed[0] += tail_observed
    expected[0] += tail_expected
    return observed, expected


@pytest.mark.parametrize(
    "mechanism", [DiscreteLaplace(Fraction(3, 2)), DiscreteGaussian(Fraction(2))]
)
def test_pmf_goodness_of_fit(mechanism: DiscreteLaplace | DiscreteGaussian) -> None:
    samples = Counter(mechanism.sample() for _ in range(N))
    support = range(-8, 9)
    if isinstance(mechanism, DiscreteLaplace):
        r = math.exp(-1 / float(mechanism.scale))
        pmf = {x: (1 - r) / (1 + r) * r ** abs(x) for x in support}
    else:
        weights = {x: math.exp(-(x * x) / (2 * float(mechanism.sigma2))) for x in range(-60, 61)}
        total = sum(weights.values())
        pmf = {x: weights[x] / total for x in support}
    observed, expected = _pooled(
        [samples.get(x, 0) for x in support], [pmf[x] * N for x in support]
    )
    _, p_value = stats.chisquare(observed, expected)
    assert p_value > 1e-4


@pytest.mark.parametrize(
    "mechanism",
    [make_laplace(Fraction(1), Fraction(1)), make_gaussian(Fraction(1), Fraction(1, 8))],
)
def test_half_width_covers_95_percent(mechanism: DiscreteLaplace | DiscreteGaussian) -> None:
    width = mechanism.half_width()
    inside = sum(abs(mechanism.sample()) <= width for _ in range(N)) / N
    assert inside >= 0.95 - 4 * math.sqrt(0.05 * 0.95 / N)
    if width > 0:  # and it is the smallest such width
        narrower = sum(abs(mechanism.sample()) <= width - 1 for _ in range(N)) / N
        assert narrower < 0.95 + 4 * math.sqrt(0.05 * 0.95 / N)


def test_make_laplace_calibration() -> None:
    assert make_laplace(Fraction(50), Fraction(1, 4)).scale == Fraction(200)
    assert make_gaussian(Fraction(4), Fraction(1, 2)).sigma2 == Fraction(4)
    with pytest.raises(ValueError):
        make_laplace(Fraction(0), Fraction(1))


def test_bernoulli_is_exact_at_the_edges() -> None:
    assert all(bernoulli(Fraction(1)) for _ in range(100))
    assert not any(bernoulli(Fraction(0)) for _ in range(100))
    assert all(bernoulli_exp(Fraction(0)) for _ in range(100))
    rate = sum(bernoulli_exp(Fraction(2)) for _ in range(N)) / N
    assert abs(rate - math.exp(-2)) < 5 * math.sqrt(math.exp(-2) / N)


def test_threshold_matches_the_wilson_formula() -> None:
    # continuous Laplace: tau = 1 + ln(1/(2 delta)) / eps ~ 11.8 at eps=1, delta=1e-5
    tau = selection_threshold(make_laplace(Fraction(1), Fraction(1)), 1, Fraction(1, 10**5))
    assert 12 <= tau <= 13
    mechanism = make_laplace(Fraction(1), Fraction(1))
    assert mechanism.tail(tau - 1) <= 1e-5 < mechanism.tail(tau - 2)
    with pytest.raises(ValueError):
        selection_threshold(mechanism, 1, Fraction(0))


def test_zero_noise_hook_is_thread_local() -> None:
    import threading

    seen: list[int] = []
    with zero_noise_for_tests():
        assert discrete_laplace(Fraction(1000)) == 0
        thread = threading.Thread(target=lambda: seen.append(discrete_laplace(Fraction(10**6))))
        thread.start()
        thread.join()
    assert seen[0] != 0  # other threads still draw noise
