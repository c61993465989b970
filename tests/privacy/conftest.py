"""Neighbouring datasets for the statistical privacy tests, small enough that one
pipeline run costs a few milliseconds.

D has 20 ordinary members (2 purchases each, amount 2) and the victim, who is
* the heaviest unit: 30 purchases of amount 10, bounded to 3 rows per unit (R = 3);
* the only member of the city 'Solitude' (not a public key) and of education 'Doctor'
  (a public key);
* the only buyer of eight products v0..v7 (for the groups-per-unit bound, G = 1).
D' is D without the victim. Queries go through ``Proxy.session(...).query``: the whole
pipeline, with the result cache off so every answer draws fresh noise, and a rota of
analysts so the runs fit in the budgets (a delta budget holds 19 selections).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dpproxy.api import Result
from dpproxy.proxy import Proxy
from tests.synthetic import PURCHASES, Row, write_dataset
from tests.synthetic import policies as write_policies

VICTIM = 99
ANALYSTS = [f"a{i}" for i in range(60)]
CONFIG = {
    "cache": False,
    "analysts": {name: {"budget": {"epsilon": 1000.0, "delta": 0.99}} for name in ANALYSTS},
    "queries": {"default_epsilon": 1.0, "max_epsilon": 10.0, "delta": 0.05},
}
MEMBER_POLICY = {"min_group_size": 0}
PURCHASE_POLICY = {
    "max_rows_per_unit": 3,
    "max_groups_per_unit": 1,
    "min_group_size": 0,
    "columns": {
        "loyalty_number": {"role": "privacy_unit"},
        "product": {"role": ["dimension", "join_key"]},
        "amount": {"role": "measure", "bounds": [0, 10]},
        "ts": {"role": "dimension"},
    },
}
INTEGER_PURCHASES = {**PURCHASES, "amount": "BIGINT"}
START = dt.datetime(2024, 3, 1, 9, 0, 0)


def members(*, victim: bool) -> list[Row]:
    rows: list[Row] = [
        (i, ("Salem", "Riverton")[i % 2], "Single", ("College", "Master")[i % 2], "Female",
         30 + i, 100.0 * i)
        for i in range(1, 21)
    ]  # fmt: skip
    if victim:
        rows.append((VICTIM, "Solitude", "Widowed", "Doctor", "Other", 77, 20000.0))
    return rows


def purchases(*, victim: bool) -> list[Row]:
    rows: list[Row] = []
    for i in range(1, 21):
        for j in range(2):
            rows.append((i, ("latte", "mug")[j], 2, START + dt.timedelta(hours=i, minutes=j)))
    if victim:
        for j in range(30):
            rows.append((VICTIM, f"v{j % 8}", 10, START + dt.timedelta(days=1, minutes=j)))
    return rows


def _dataset(directory: Path, *, victim: bool) -> Path:
    return write_dataset(
        directory,
        members(victim=victim),
        purchases(victim=victim),
        purchase_columns=INTEGER_PURCHASES,
    )


@pytest.fixture(scope="session")
def neighbour_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("privacy")
    return _dataset(root / "d", victim=True), _dataset(root / "d_prime", victim=False)


def _pair(
    root: Path, data: tuple[Path, Path], purchase_policy: dict[str, Any]
) -> tuple[Proxy, Proxy]:
    tables = {"members": MEMBER_POLICY, "purchases": purchase_policy}
    return (
        Proxy(write_policies(root / "d", data[0], config=CONFIG, tables=tables)),
        Proxy(write_policies(root / "d_prime", data[1], config=CONFIG, tables=tables)),
    )


@pytest.fixture(scope="session")
def neighbours(
    neighbour_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Proxy, Proxy]]:
    """D and D' behind the bounds R = 3 rows and G = 1 group per unit."""
    pair = _pair(tmp_path_factory.mktemp("neighbours"), neighbour_data, PURCHASE_POLICY)
    yield pair
    for proxy in pair:
        proxy.close()


@pytest.fixture(scope="session")
def wide_rows(
    neighbour_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Proxy, Proxy]]:
    """D and D' with R = 30 (all the victim's rows), so that only the group bound
    (G = 1) limits the victim to one of their eight products."""
    policy = {**PURCHASE_POLICY, "max_rows_per_unit": 30}
    pair = _pair(tmp_path_factory.mktemp("wide_rows"), neighbour_data, policy)
    yield pair
    for proxy in pair:
        proxy.close()


def answers(
    proxy: Proxy, sql: str, epsilon: float, runs: int, extract: Callable[[Result], float]
) -> list[float]:
    """``runs`` answers through the whole pipeline, each reduced to one number."""
    values = []
    for i in range(runs):
        result = proxy.session(ANALYSTS[i % len(ANALYSTS)]).query(sql, epsilon=epsilon)
        assert not result.cache_hit
        values.append(extract(result))
    return values


def first_cell(result: Result) -> float:
    value = result.rows[0][0]
    assert value is not None
    return float(value)


def group_value(key: str) -> Callable[[Result], float]:
    def extract(result: Result) -> float:
        values = {row[0]: row[1] for row in result.rows}
        return float(values[key])

    return extract


def appears(keys: set[str]) -> Callable[[Result], float]:
    """1 when any of ``keys`` is among the released groups."""

    def extract(result: Result) -> float:
        return 1.0 if keys & {row[0] for row in result.rows} else 0.0

    return extract
