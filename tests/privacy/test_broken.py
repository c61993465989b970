"""The privacy tests have teeth: the same tests, run against a deliberately broken
pipeline (monkeypatched), find an empirical epsilon above the one claimed.

* a halved noise scale (the samplers draw with half the calibrated scale);
* an ignored contribution bound: rows per unit (the clip pass removed) for COUNT
  and SUM, groups per unit (rank_groups removed) for partition selection;
* an ignored selection threshold (every group with a positive noisy count released).

Sample sizes were chosen by simulating each test (the same estimator and thresholds,
with discrete Laplace noise drawn by numpy): in 2,000 simulated repetitions at these
sizes none missed its break; the smallest bound seen was 2.17 against epsilon 2 (halved
scale on COUNT). The correct pipeline passes the same tests in ``test_neighbours.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from dpproxy import plan as plan_module
from dpproxy import rewrite
from dpproxy.noise.mechanisms import DiscreteLaplace
from dpproxy.noise.samplers import discrete_laplace
from dpproxy.proxy import Proxy
from tests.privacy.conftest import appears, first_cell, group_value
from tests.privacy.test_neighbours import (
    COUNT,
    COUNT_THRESHOLDS,
    EPSILON,
    PRODUCT_GROUPS,
    PUBLIC_GROUPS,
    SELECTED_GROUPS,
    SUM,
    SUM_THRESHOLDS,
    VICTIM_PRODUCTS,
    bound,
)


@pytest.fixture
def halved_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    def sample(self: DiscreteLaplace) -> int:
        return discrete_laplace(self.scale / 2)

    monkeypatch.setattr(DiscreteLaplace, "sample", sample)


def _without(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    rules = tuple(rule for rule in rewrite.RULES if rule.__name__ != name)
    assert len(rules) == len(rewrite.RULES) - 1
    monkeypatch.setattr(rewrite, "RULES", rules)


@pytest.mark.slow
@pytest.mark.usefixtures("halved_noise")
def test_a_halved_noise_scale_is_caught_on_count(neighbours: tuple[Proxy, Proxy]) -> None:
    assert bound(neighbours, COUNT, EPSILON, 400, first_cell, COUNT_THRESHOLDS) > EPSILON


@pytest.mark.slow
@pytest.mark.usefixtures("halved_noise")
def test_a_halved_noise_scale_is_caught_on_a_group(neighbours: tuple[Proxy, Proxy]) -> None:
    """The count is measured in 2^-16 of a unit and rounded for release, so the released
    1 vs 0 tells D from D' at most e^2.55 times better under the halved scale (event
    X >= 1: 1 - e^-2 / 2 against e^-2 / 2). One threshold and 1,500 runs keep the
    Clopper-Pearson bound above 2 even when the estimate is 3 standard errors off."""
    found = bound(neighbours, PUBLIC_GROUPS, EPSILON, 1500, group_value("Doctor"), [1])
    assert found > EPSILON


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sql", "thresholds"), [(COUNT, COUNT_THRESHOLDS), (SUM, SUM_THRESHOLDS)], ids=["count", "sum"]
)
def test_an_ignored_row_bound_is_caught(
    sql: str,
    thresholds: list[float],
    neighbours: tuple[Proxy, Proxy],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _without(monkeypatch, "clip")
    assert bound(neighbours, sql, EPSILON, 200, first_cell, thresholds) > EPSILON


@pytest.mark.slow
def test_an_ignored_group_bound_is_caught(
    wide_rows: tuple[Proxy, Proxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    _without(monkeypatch, "rank_groups")
    found = bound(wide_rows, PRODUCT_GROUPS, 0.5, 300, appears(VICTIM_PRODUCTS), [0.5], delta=0.05)
    assert found > 0.5


@pytest.mark.slow
def test_an_ignored_selection_threshold_is_caught(
    neighbours: tuple[Proxy, Proxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_threshold(*args: Any, **kwargs: Any) -> int:
        return 1

    monkeypatch.setattr(plan_module, "selection_threshold", no_threshold)
    found = bound(neighbours, SELECTED_GROUPS, 0.5, 100, appears({"Solitude"}), [0.5], delta=0.05)
    assert found > 0.5
