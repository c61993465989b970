"""Exact samplers for the discrete Laplace and discrete Gaussian distributions.

Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential Privacy" (NeurIPS
2020), Algorithms 1-3. Every step works on integers and ``Fraction``s and draws its
randomness from ``secrets`` (the operating system's CSPRNG), so the output distribution
is exactly the stated one: there are no floating-point values whose low-order bits could
leak the input (Mironov 2012). This is the only module that draws random bits.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction

_ONE = Fraction(1)
_state = threading.local()


def random_below(n: int) -> int:
    """A uniform integer in [0, n)."""
    return secrets.randbelow(n)


def random_bits(k: int) -> int:
    """A uniform integer of ``k`` bits (keys for contribution bounding)."""
    return secrets.randbits(k)


def bernoulli(p: Fraction) -> bool:
    """True with probability ``p`` (0 <= p <= 1), exactly."""
    return random_below(p.denominator) < p.numerator


def bernoulli_exp(gamma: Fraction) -> bool:
    """True with probability exp(-gamma) for gamma >= 0, exactly (CKS Algorithm 1)."""
    if gamma < 0:
        raise ValueError("gamma must be non-negative")
    while gamma > 1:
        if not _bernoulli_exp_at_most_one(_ONE):
            return False
        gamma -= 1
    return _bernoulli_exp_at_most_one(gamma)


def _bernoulli_exp_at_most_one(gamma: Fraction) -> bool:
    k = 1
    while bernoulli(gamma / k):
        k += 1
    return k % 2 == 1


def discrete_laplace(scale: Fraction) -> int:
    """X with P[X = x] proportional to exp(-|x| / scale) (CKS Algorithm 2)."""
    if _state.__dict__.get("zero"):
        return 0
    if scale <= 0:
        raise ValueError("scale must be positive")
    t, s = scale.numerator, scale.denominator  # scale = t / s
    while True:
        u = random_below(t)
        if not bernoulli_exp(Fraction(u, t)):
            continue
        v = 0
        while bernoulli_exp(_ONE):
            v += 1
        y = (u + t * v) // s
        negative = random_below(2) == 1
        if negative and y == 0:
            continue
        return -y if negative else y


def discrete_gaussian(sigma2: Fraction) -> int:
    """X with P[X = x] proportional to exp(-x^2 / (2 sigma2)) (CKS Algorithm 3)."""
    if _state.__dict__.get("zero"):
        return 0
    if sigma2 <= 0:
        raise ValueError("sigma2 must be positive")
    t = math.isqrt(sigma2.numerator * sigma2.denominator) // sigma2.denominator + 1
    while True:
        y = discrete_laplace(Fraction(t))
        gamma = (abs(y) - sigma2 / t) ** 2 / (2 * sigma2)
        if bernoulli_exp(gamma):
            return y


@contextmanager
def zero_noise_for_tests() -> Iterator[None]:
    """Internal test hook: samplers return 0 in this thread while the block runs.

    Used only by differential tests that compare the rewritten query with the plain
    aggregate. Nothing in the API, CLI or server can reach it.
    """
    _state.zero = True
    try:
        yield
    finally:
        _state.zero = False
