"""Stage 5, noise: mechanisms and exact samplers; the only place randomness is drawn."""

from dpproxy.noise.mechanisms import (
    DiscreteGaussian,
    DiscreteLaplace,
    Mechanism,
    make_gaussian,
    make_laplace,
    selection_threshold,
)
from dpproxy.noise.samplers import random_bits

__all__ = [
    "DiscreteGaussian",
    "DiscreteLaplace",
    "Mechanism",
    "make_gaussian",
    "make_laplace",
    "random_bits",
    "selection_threshold",
]
