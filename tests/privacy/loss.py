"""An empirical lower bound on the privacy loss between two output distributions.

For each pre-registered threshold t, the events {X >= t} and {X < t} are estimated from
``runs`` outputs on D and on D'. A mechanism is (epsilon, delta)-DP only if for every
event S, P_D[S] <= e^epsilon P_D'[S] + delta, and the same with D and D' swapped. With
Clopper-Pearson intervals (Bonferroni over every interval, overall significance
``alpha``), log((lower(P_D[S]) - delta) / upper(P_D'[S])) is a lower bound on epsilon
that holds with probability at least 1 - alpha; a correct mechanism exceeds its epsilon
at most that often. Thresholds are fixed from the exact answers and the declared noise
before sampling, never from the samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

ALPHA = 0.001


def clopper_pearson(successes: int, trials: int, alpha: float) -> tuple[float, float]:
    """A two-sided interval for a binomial proportion, each side failing at most alpha/2."""
    lo = stats.beta.ppf(alpha / 2, successes, trials - successes + 1) if successes else 0.0
    hi = (
        stats.beta.ppf(1 - alpha / 2, successes + 1, trials - successes)
        if successes < trials
        else 1.0
    )
    return float(lo), float(hi)


@dataclass(frozen=True)
class Bound:
    epsilon: float  # the lower bound (0 when no event shows any loss)
    event: str  # the event that gave it

    def __str__(self) -> str:
        return f"epsilon >= {self.epsilon:.3f} (event {self.event})"


def epsilon_lower_bound(
    d: Sequence[float],
    d_prime: Sequence[float],
    thresholds: Sequence[float],
    *,
    delta: float = 0.0,
    alpha: float = ALPHA,
) -> Bound:
    each = alpha / (2 * len(thresholds))  # two intervals (D and D') per threshold
    best = Bound(0.0, "none")
    for t in thresholds:
        p = sum(x >= t for x in d)
        q = sum(x >= t for x in d_prime)
        p_lo, p_hi = clopper_pearson(p, len(d), each)
        q_lo, q_hi = clopper_pearson(q, len(d_prime), each)
        for lower, upper, name in (
            (p_lo, q_hi, f"X >= {t} on D vs D'"),
            (q_lo, p_hi, f"X >= {t} on D' vs D"),
            (1 - p_hi, 1 - q_lo, f"X < {t} on D vs D'"),
            (1 - q_hi, 1 - p_lo, f"X < {t} on D' vs D"),
        ):
            lower -= delta
            if lower <= 0:
                continue
            value = math.log(lower / upper) if upper > 0 else math.inf
            if value > best.epsilon:
                best = Bound(value, name)
    return best
