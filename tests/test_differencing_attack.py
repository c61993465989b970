"""The seed's differencing attack: COUNT(*) minus COUNT(*) WHERE city <> 'A Very Small
Town' isolates the town's members. Run through the whole pipeline on D (the sample) and
D' (the sample without one member of the town), the answers' distributions must overlap
as epsilon says: no event is more than e^epsilon times likelier under one than the other
(tested with Clopper-Pearson bounds), and no threshold rule tells D from D' better than
e^epsilon / (1 + e^epsilon) of the time.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from scipy import stats

from dpproxy.proxy import Proxy
from tests.conftest import copy_sample, write_policies

EPSILON_PER_QUERY = 0.5
EPSILON = 2 * EPSILON_PER_QUERY  # the attack asks two queries
RUNS = 300
ALPHA = 0.001


def _without_one_member(directory: Path) -> Path:
    copy_sample(directory)
    path = directory / "members.csv"
    with path.open() as f:
        rows = list(csv.reader(f))
    victim = next(i for i, row in enumerate(rows) if row[1] == "A Very Small Town")
    with path.open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows[:victim] + rows[victim + 1 :])
    return directory


def _attack(proxy: Proxy) -> list[int]:
    session = proxy.session("alice")
    answers = []
    for _ in range(RUNS):
        everyone = session.query("SELECT COUNT(*) FROM members", epsilon=EPSILON_PER_QUERY)
        others = session.query(
            "SELECT COUNT(*) FROM members WHERE city <> 'A Very Small Town'",
            epsilon=EPSILON_PER_QUERY,
        )
        answers.append(everyone.rows[0][0] - others.rows[0][0])
    return answers


def _clopper_pearson(successes: int, n: int, alpha: float) -> tuple[float, float]:
    lo = stats.beta.ppf(alpha / 2, successes, n - successes + 1) if successes else 0.0
    hi = stats.beta.ppf(1 - alpha / 2, successes + 1, n - successes) if successes < n else 1.0
    return float(lo), float(hi)


@pytest.mark.slow
def test_differencing_attack_is_bounded_by_epsilon(tmp_path: Path) -> None:
    config = {"cache": False}
    with_victim = Proxy(write_policies(tmp_path / "d", config=config))
    without = Proxy(write_policies(tmp_path / "d2", config=config,
                                   data=_without_one_member(tmp_path / "data")))  # fmt: skip
    try:
        d, d_prime = _attack(with_victim), _attack(without)
    finally:
        with_victim.close()
        without.close()
    thresholds = range(min(d + d_prime), max(d + d_prime) + 1)
    alpha = ALPHA / (2 * len(thresholds))
    worst = 0.0
    for t in thresholds:
        p = sum(x >= t for x in d)
        q = sum(x >= t for x in d_prime)
        p_lo, p_hi = _clopper_pearson(p, RUNS, alpha)
        q_lo, q_hi = _clopper_pearson(q, RUNS, alpha)
        for lower, upper in (
            (p_lo, q_hi),
            (q_lo, p_hi),
            (1 - p_hi, 1 - q_lo),
            (1 - q_hi, 1 - p_lo),
        ):
            if lower > 0:
                worst = max(worst, math.log(lower / upper) if upper > 0 else math.inf)
    assert worst <= EPSILON, f"empirical epsilon lower bound {worst:.3f} exceeds {EPSILON}"
    best = max(
        (sum(x >= t for x in d) + sum(x < t for x in d_prime)) / (2 * RUNS) for t in thresholds
    )
    limit = math.exp(EPSILON) / (1 + math.exp(EPSILON))
    assert best <= limit + 3 * math.sqrt(0.25 / (2 * RUNS))
    # the answers do carry the signal (D has one more member), only blurred
    assert sum(d) / RUNS > sum(d_prime) / RUNS - 1
