"""Per-query limits: query length, nesting depth, public key combinations, output cells,
engine memory, and noise scales too large to compute with. Limits decided from the
query text or the policy refuse the query before it reaches the engine, at no charge;
limits that depend on the data (cells after selection, memory) end in one generic
error and keep the charge, because the failure itself may depend on the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dpproxy.check.grouping import MAX_PUBLIC_GROUPS
from dpproxy.errors import (
    DPProxyError,
    ExecutionFailed,
    QueryLimitExceeded,
    QueryRejected,
    QueryTimeout,
)
from dpproxy.parse import MAX_DEPTH
from dpproxy.proxy import Proxy
from tests.attacks import dataset
from tests.instrument import instrument
from tests.synthetic import policies

QUERIES = {"default_epsilon": 0.5, "max_epsilon": 50.0, "delta": 1.0e-7}


def _proxy(tmp_path: Path, data: Path, **config: object) -> Proxy:
    return Proxy(policies(tmp_path / "policies", data, config={"cache": False, **config}))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dataset.write(tmp_path_factory.mktemp("limits"), victim=True)


@pytest.fixture
def limited(tmp_path: Path, data: Path) -> Iterator[Proxy]:
    queries = {**QUERIES, "max_query_length": 200, "max_output_cells": 10}
    proxy = _proxy(tmp_path, data, queries=queries)
    yield proxy
    proxy.close()


def _refused_before_engine(
    proxy: Proxy, sql: str, monkeypatch: pytest.MonkeyPatch, epsilon: float | None = None
) -> DPProxyError:
    probe = instrument(proxy, monkeypatch)
    before = proxy.ledger.spent("member", "alice")
    with pytest.raises(DPProxyError) as error:
        proxy.session("alice").query(sql, epsilon=epsilon)
    assert not probe.touched_engine and not probe.draws
    assert proxy.ledger.spent("member", "alice") == before
    return error.value


def test_query_length(limited: Proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    base = "SELECT COUNT(*) FROM members WHERE city = '"
    fits = base + "x" * (200 - len(base) - 1) + "'"
    assert len(fits) == 200
    limited.session("alice").query(fits)
    error = _refused_before_engine(limited, fits[:-1] + "x'", monkeypatch)
    assert isinstance(error, QueryLimitExceeded) and error.sqlstate == "54000"
    assert "201 characters" in error.message


@pytest.mark.parametrize(
    "condition",
    [
        "(" * 200 + "age > 30" + ")" * 200,
        "NOT " * 300 + "age > 30",
        "age > " + " + ".join(["1"] * 400),
        "age IN (" + ", ".join(map(str, range(5000))) + ") AND " + "(" * 80 + "TRUE" + ")" * 80,
        "CASE WHEN " * 100 + "TRUE" + " THEN TRUE END" * 100,
    ],
    ids=["parentheses", "not", "sum", "in-list-and-parentheses", "case"],
)
def test_nesting_depth(condition: str, d_proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    error = _refused_before_engine(
        d_proxy, f"SELECT COUNT(*) FROM members WHERE {condition}", monkeypatch
    )
    assert isinstance(error, QueryRejected)
    assert error.sqlstate == "54001", error.message
    assert "nested" in error.message


def test_nesting_within_the_limit_is_answered(d_proxy: Proxy) -> None:
    depth = MAX_DEPTH // 4
    sql = "SELECT COUNT(*) FROM members WHERE " + "(" * depth + "age > 30" + ")" * depth
    assert d_proxy.session("alice").query(sql).rows


def test_public_key_combinations_are_limited_before_execution(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Public keys make every combination of their values a group, empty or not."""
    members = {
        "columns": {
            "loyalty_number": {"role": "privacy_unit"},
            "city": {"role": "dimension", "public_values": [f"c{i}" for i in range(2000)]},
            "marital_status": {"role": "dimension", "public_values": ["Single", "Married"]},
            "education": {"role": "dimension", "public_values": ["College", "Master"]},
            "gender": {"role": "dimension", "public_values": ["Female", "Male", "Other"]},
            "age": {"role": ["dimension", "measure"], "bounds": [18, 100],
                    "public_values": list(range(18, 101))},
            "annual_spend": {"role": "measure", "bounds": [0, 20000]},
        },
    }  # fmt: skip
    proxy = Proxy(
        policies(tmp_path / "p", data, config={"cache": False}, tables={"members": members})
    )
    try:
        sql = "SELECT city, age, gender, marital_status, education, COUNT(*) FROM members "
        sql += "GROUP BY 1, 2, 3, 4, 5"
        assert MAX_PUBLIC_GROUPS < 2000 * 83 * 3 * 2 * 2
        error = _refused_before_engine(proxy, sql, monkeypatch)
        assert error.sqlstate == "54000" and "1992000 groups" in error.message
        # a smaller product is answered, with every combination present
        result = proxy.session("alice").query(
            "SELECT gender, marital_status, COUNT(*) FROM members GROUP BY 1, 2"
        )
        assert result.columns == ("gender", "marital_status", "count")
    finally:
        proxy.close()


def test_output_cells_after_selection_keep_the_charge(limited: Proxy) -> None:
    """The number of released rows depends on noisy counts: the limit is checked after
    noise (post-processing) and the charge stands."""
    before = limited.ledger.spent("member", "alice")
    with pytest.raises(QueryLimitExceeded) as error:
        limited.session("alice").query(
            "SELECT education, gender, COUNT(*) FROM members GROUP BY 1, 2", epsilon=1.0
        )
    assert "more than 10 cells" in error.value.message
    assert limited.ledger.spent("member", "alice").epsilon - before.epsilon == 10**12
    small = limited.session("alice").query(
        "SELECT education, COUNT(*) AS n FROM members GROUP BY 1 ORDER BY n DESC LIMIT 3"
    )
    assert len(small.rows) * len(small.columns) <= 10


@pytest.mark.slow
def test_engine_memory_limit(tmp_path: Path, big: Path) -> None:
    """Two million distinct keys under 64 MB: the engine spills or fails, and the query
    ends with the generic error or the time limit (here 5 s), charged either way."""
    queries = {**QUERIES, "timeout_seconds": 5}
    proxy = _proxy(tmp_path, big, engine_memory_limit="64MB", queries=queries)
    try:
        assert proxy.engine.setting("memory_limit") == "61.0 MiB"
        before = proxy.ledger.spent("member", "alice")
        with pytest.raises((ExecutionFailed, QueryTimeout)) as error:
            proxy.session("alice").query("SELECT ts, COUNT(*) FROM purchases GROUP BY ts")
        assert error.value.message in (
            "query execution failed; its privacy budget has been charged",
            "query cancelled: time limit reached",
        )
        assert proxy.ledger.spent("member", "alice").epsilon - before.epsilon == 5 * 10**11
    finally:
        proxy.close()


def test_zcdp_selection_with_a_tiny_epsilon_is_refused_quickly(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under zCDP the threshold of partition selection is found by summing the discrete
    Gaussian's tail; with a tiny epsilon that took minutes before anything ran."""
    proxy = _proxy(tmp_path, data, accounting="zcdp")
    try:
        error = _refused_before_engine(
            proxy, "SELECT city, COUNT(*) FROM members GROUP BY city", monkeypatch, epsilon=0.001
        )
        assert isinstance(error, QueryLimitExceeded) and "epsilon is too small" in error.message
        assert proxy.session("alice").query(
            "SELECT city, COUNT(*) FROM members GROUP BY city", epsilon=0.5
        ).columns == ("city", "count")
    finally:
        proxy.close()


def test_huge_integer_bounds_are_summed_on_a_coarser_grid(tmp_path: Path, data: Path) -> None:
    """Integer measures with bounds near 2**50 would need noise scales beyond what the
    accuracy arithmetic handles; they are summed on a power-of-two grid instead."""
    members = {
        "columns": {
            "loyalty_number": {"role": "privacy_unit"},
            "city": {"role": "dimension"},
            "age": {"role": ["dimension", "measure"], "bounds": [0, 2**50]},
        },
    }
    proxy = Proxy(
        policies(tmp_path / "p", data, config={"cache": False}, tables={"members": members})
    )
    try:
        result = proxy.session("alice").query("SELECT SUM(age), AVG(age) FROM members")
        assert result.accuracy[0].ci95 is not None and result.accuracy[0].ci95 > 2**50
    finally:
        proxy.close()
