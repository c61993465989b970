"""The privacy claim, tested: on neighbouring datasets the pipeline's answers are as
indistinguishable as epsilon (and delta) say.

Each test runs one query many times through the whole pipeline on D and on D' (D
without the victim) and bounds the privacy loss from below with Clopper-Pearson
intervals at significance 0.001 (``loss.py``). A correct implementation stays within its
epsilon; ``test_broken.py`` runs the same tests against a halved noise scale and an
ignored contribution bound and shows they fail.

The neighbours: removing the heaviest unit (30 purchases, bounded to R = 3) for COUNT,
SUM and AVG; removing the only member of a group, with public keys (the group stays, its
count moves from 1 to 0) and with partition selection (the group may appear only with
probability delta).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from dpproxy.api import Result
from dpproxy.proxy import Proxy
from tests.privacy.conftest import answers, appears, first_cell, group_value
from tests.privacy.loss import epsilon_lower_bound

RUNS = 300
EPSILON = 2.0
COUNT = "SELECT COUNT(*) FROM purchases"
SUM = "SELECT SUM(amount) FROM purchases"
AVG = "SELECT AVG(amount) FROM purchases"
PUBLIC_GROUPS = "SELECT education, COUNT(*) FROM members GROUP BY education"
SELECTED_GROUPS = "SELECT city, COUNT(*) FROM members GROUP BY city"
PRODUCT_GROUPS = "SELECT product, COUNT(*) FROM purchases GROUP BY product"
VICTIM_PRODUCTS = {f"v{i}" for i in range(8)}

# Exact answers after bounding (D, D'), and thresholds fixed from them and the declared
# noise scale (Laplace b in output units) before any run.
# COUNT: 20 x 2 rows + the victim's 3 = 43 vs 40; b = 3 / 2.
COUNT_THRESHOLDS = list(range(34, 50))
# SUM: 80 + 3 x 10 = 110 vs 80; b = 30 / 2 = 15.
SUM_THRESHOLDS = list(range(35, 201, 5))
# AVG: 110 / 43 = 2.56 vs 2.0, from a noisy count and a noisy centred sum (eps / 2 each).
AVG_THRESHOLDS = [1.0 + 0.2 * i for i in range(14)]
# Doctor's count with public keys: 1 vs 0; b = 1 / 2.
GROUP_THRESHOLDS = [1, 2, 3]


def bound(
    pair: tuple[Proxy, Proxy],
    sql: str,
    epsilon: float,
    runs: int,
    extract: Callable[[Result], float],
    thresholds: list[float],
    delta: float = 0.0,
) -> float:
    with ThreadPoolExecutor(2) as pool:  # D and D' side by side: the engine releases the GIL
        d, d_prime = pool.map(lambda proxy: answers(proxy, sql, epsilon, runs, extract), pair)
    found = epsilon_lower_bound(d, d_prime, thresholds, delta=delta)
    print(f"{sql}: {found}")
    return found.epsilon


@pytest.mark.slow
def test_count_without_the_heaviest_unit(neighbours: tuple[Proxy, Proxy]) -> None:
    assert bound(neighbours, COUNT, EPSILON, RUNS, first_cell, COUNT_THRESHOLDS) <= EPSILON


@pytest.mark.slow
def test_sum_without_the_heaviest_unit(neighbours: tuple[Proxy, Proxy]) -> None:
    assert bound(neighbours, SUM, EPSILON, RUNS, first_cell, SUM_THRESHOLDS) <= EPSILON


@pytest.mark.slow
def test_avg_without_the_heaviest_unit(neighbours: tuple[Proxy, Proxy]) -> None:
    assert bound(neighbours, AVG, EPSILON, RUNS, first_cell, AVG_THRESHOLDS) <= EPSILON


@pytest.mark.slow
def test_public_group_without_its_only_member(neighbours: tuple[Proxy, Proxy]) -> None:
    found = bound(neighbours, PUBLIC_GROUPS, EPSILON, RUNS, group_value("Doctor"), GROUP_THRESHOLDS)
    assert found <= EPSILON


@pytest.mark.slow
def test_selected_group_without_its_only_member(neighbours: tuple[Proxy, Proxy]) -> None:
    """'Solitude' has no public key list: it appears only when its noisy count passes
    the threshold, which on D happens with probability at most delta (0.05 here), and
    never on D'. (epsilon, delta): P_D[appears] <= e^eps P_D'[appears] + delta."""
    epsilon = 0.5
    found = bound(
        neighbours, SELECTED_GROUPS, epsilon, 400, appears({"Solitude"}), [0.5], delta=0.05
    )
    assert found <= epsilon


@pytest.mark.slow
def test_groups_of_one_unit_are_bounded(wide_rows: tuple[Proxy, Proxy]) -> None:
    """The victim alone bought eight products; with one group per unit (G = 1) only one
    of them can be a candidate, so together they appear with probability <= delta."""
    epsilon = 0.5
    found = bound(
        wide_rows, PRODUCT_GROUPS, epsilon, 400, appears(VICTIM_PRODUCTS), [0.5], delta=0.05
    )
    assert found <= epsilon


def test_the_answers_carry_the_signal(neighbours: tuple[Proxy, Proxy]) -> None:
    """A sanity check on the datasets: the victim does change the exact answers the
    thresholds were chosen from (high epsilon, so the noise is small). The tolerance is
    five standard errors of the mean of the declared noise (Laplace b = sensitivity /
    epsilon, standard deviation b * sqrt(2)), so a correct pipeline fails it with
    probability below 1e-6, while the two exact answers stay far more than that apart."""
    d, d_prime = neighbours
    epsilon, runs = 8.0, 40
    for sql, sensitivity, exact_d, exact_d_prime in ((COUNT, 3, 43, 40), (SUM, 30, 110, 80)):
        tolerance = 5 * math.sqrt(2) * sensitivity / epsilon / math.sqrt(runs)
        assert tolerance < (exact_d - exact_d_prime) / 2
        values = [answers(p, sql, epsilon, runs, first_cell) for p in (d, d_prime)]
        means = [sum(v) / len(v) for v in values]
        assert math.isclose(means[0], exact_d, abs_tol=tolerance), (sql, means)
        assert math.isclose(means[1], exact_d_prime, abs_tol=tolerance), (sql, means)
