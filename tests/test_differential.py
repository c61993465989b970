"""Differential tests: with noise switched off (internal test hook) and no bounding in
play, the rewritten query gives the plain aggregate computed on the raw data."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dpproxy.noise.samplers import zero_noise_for_tests
from dpproxy.proxy import Proxy
from tests.conftest import SAMPLE, write_policies

# Bounds wide enough that nothing is clamped, limits high enough that nothing is dropped.
UNBOUNDED = {
    "members": {
        "min_group_size": 0,
        "columns": {
            "loyalty_number": {"role": "privacy_unit"},
            "city": {"role": "dimension"},
            "marital_status": {"role": "dimension",
                               "public_values": ["Single", "Married", "Divorced", "Widowed"]},
            "education": {"role": "dimension", "public_values": ["High School", "College",
                                                                 "Bachelor", "Master", "Doctor"]},
            "gender": {"role": "dimension", "public_values": ["Female", "Male", "Other"]},
            "age": {"role": ["dimension", "measure"], "bounds": [0, 200]},
            "annual_spend": {"role": "measure", "bounds": [0, 2_000_000]},
        },
    },
    "purchases": {
        "min_group_size": 0, "max_rows_per_unit": 100_000, "max_groups_per_unit": 100_000,
        "columns": {
            "loyalty_number": {"role": "privacy_unit"},
            "product": {"role": ["dimension", "join_key"]},
            "amount": {"role": "measure", "bounds": [0, 2000]},
            "ts": {"role": "dimension"},
        },
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def exact(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    proxy = Proxy(write_policies(tmp_path_factory.mktemp("exact"), tables=UNBOUNDED))
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def raw() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    for name in ("members", "purchases", "products"):
        path = str(Path(SAMPLE) / f"{name}.csv")
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv(?, header = true)", [path])
    yield con
    con.close()


CASES = [
    # (dpproxy SQL, plain DuckDB SQL, absolute tolerance per column)
    ("SELECT COUNT(*) FROM members", "SELECT COUNT(*) FROM members", [0]),
    ("SELECT education, COUNT(*), SUM(age) FROM members GROUP BY education",
     "SELECT education, COUNT(*), SUM(age) FROM members GROUP BY education", [0, 0, 0]),
    ("SELECT gender, marital_status, COUNT(*) FROM members GROUP BY 1, 2",
     "SELECT gender, marital_status, COUNT(*) FROM members GROUP BY 1, 2", [0, 0, 0]),
    ("SELECT COUNT(*), AVG(age), VAR_POP(age), STDDEV_POP(age) FROM members WHERE age > 40",
     "SELECT COUNT(*), AVG(age), VAR_POP(age), STDDEV_POP(age) FROM members WHERE age > 40",
     [0, 1e-9, 1e-6, 1e-6]),
    ("SELECT VARIANCE(age), STDDEV(age) FROM members WHERE city = 'Salem'",
     "SELECT VAR_SAMP(age), STDDEV_SAMP(age) FROM members WHERE city = 'Salem'", [1e-6, 1e-6]),
    ("SELECT SUM(annual_spend), AVG(annual_spend) FROM members",
     "SELECT SUM(annual_spend), AVG(annual_spend) FROM members", [12_000 * 8, 8]),
    ("SELECT COUNT(*) FROM purchases WHERE product IN ('latte', 'mug') AND amount > 5",
     "SELECT COUNT(*) FROM purchases WHERE product IN ('latte', 'mug') AND amount > 5", [0]),
    ("SELECT pr.category, COUNT(*), COUNT(DISTINCT p.loyalty_number) FROM purchases p "
     "JOIN products pr ON p.product = pr.product GROUP BY pr.category",
     "SELECT pr.category, COUNT(*), COUNT(DISTINCT p.loyalty_number) FROM purchases p "
     "JOIN products pr ON p.product = pr.product GROUP BY pr.category", [0, 0, 0]),
    ("SELECT m.gender, COUNT(*) FROM members m JOIN purchases p "
     "ON m.loyalty_number = p.loyalty_number GROUP BY m.gender",
     "SELECT m.gender, COUNT(*) FROM members m JOIN purchases p "
     "ON m.loyalty_number = p.loyalty_number GROUP BY m.gender", [0, 0]),
    ("SELECT SUM(CASE WHEN age < 30 THEN 1 ELSE 0 END) FROM members",
     "SELECT SUM(CASE WHEN age < 30 THEN 1 ELSE 0 END) FROM members", [0]),
    ("SELECT education, COUNT(*) AS n FROM members GROUP BY education HAVING COUNT(*) > 1000 "
     "ORDER BY n DESC LIMIT 2",
     "SELECT education, COUNT(*) AS n FROM members GROUP BY education HAVING COUNT(*) > 1000 "
     "ORDER BY n DESC LIMIT 2", [0, 0]),
    ("SELECT ROUND(SUM(age) / COUNT(*), 1) FROM members",
     "SELECT ROUND(SUM(age) // COUNT(*), 1) FROM members", [0]),
]  # fmt: skip


def _close(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]], tol: list[float]) -> None:
    assert len(got) == len(want), (got, want)
    for g_row, w_row in zip(got, want, strict=True):
        for g, w, t in zip(g_row, w_row, tol, strict=True):
            if isinstance(w, float) or isinstance(g, float):
                assert math.isclose(float(g), float(w), abs_tol=t, rel_tol=1e-12), (g, w)
            else:
                assert g == w


@pytest.mark.parametrize(("sql", "plain", "tol"), CASES, ids=[c[0][:50] for c in CASES])
def test_no_bounding_equals_plain(
    sql: str, plain: str, tol: list[float], exact: Proxy, raw: duckdb.DuckDBPyConnection
) -> None:
    with zero_noise_for_tests():
        got = exact.session("alice").query(sql, epsilon=1.0).rows
    want = raw.execute(plain).fetchall()
    ordered = "ORDER BY" in sql
    _close(got if ordered else sorted(got, key=str), want if ordered else sorted(want, key=str),
           tol)  # fmt: skip


def test_partition_selection_keeps_groups_above_threshold(
    exact: Proxy, raw: duckdb.DuckDBPyConnection
) -> None:
    sql = "SELECT city, COUNT(*) FROM members GROUP BY city"
    threshold = exact.session("alice").explain(sql, epsilon=0.3).threshold
    assert threshold is not None and threshold > 20
    with zero_noise_for_tests():
        got = exact.session("alice").query(sql, epsilon=0.3).rows
    want = raw.execute(f"{sql} HAVING COUNT(*) >= {threshold}").fetchall()
    assert sorted(got) == sorted(want)
    assert "A Very Small Town" not in {row[0] for row in got}  # 20 members: below threshold


def test_bounding_applies_in_the_sample_policy(
    proxy: Proxy, raw: duckdb.DuckDBPyConnection
) -> None:
    """With the sample policy, heavy users are capped at 20 rows and amounts at 100."""
    with zero_noise_for_tests():
        (count,) = proxy.session("alice").query("SELECT COUNT(*) FROM purchases").rows[0]
    capped = raw.execute(
        "SELECT SUM(LEAST(n, 20)) FROM (SELECT COUNT(*) n FROM purchases GROUP BY loyalty_number)"
    ).fetchone()
    assert capped is not None
    assert count == capped[0]
    with zero_noise_for_tests():
        (spend,) = proxy.session("alice").query("SELECT SUM(annual_spend) FROM members").rows[0]
    clamped = raw.execute("SELECT SUM(LEAST(annual_spend, 20000)) FROM members").fetchone()
    assert clamped is not None
    assert spend == pytest.approx(clamped[0], abs=12_000 * 0.125)


# Each member's contribution with the sample policy (R = 20): every row of a member with
# n rows in the answer counts 20 / n when n > 20, for the count and the centred sums alike.
_SCALED = """
    WITH rows AS (SELECT loyalty_number, product, LEAST(amount, 100) AS a FROM purchases),
    per_member AS (SELECT loyalty_number, LEAST(1.0, 20.0 / COUNT(*)) AS f
                   FROM rows GROUP BY loyalty_number)
    SELECT SUM(f) AS n, SUM(f * a) / SUM(f) AS mean,
           SQRT(SUM(f * a * a) / SUM(f) - POW(SUM(f * a) / SUM(f), 2)) AS sd
    FROM rows JOIN per_member USING (loyalty_number)
"""


def test_bounding_scales_a_heavy_member_as_a_whole(
    proxy: Proxy, raw: duckdb.DuckDBPyConnection
) -> None:
    """A member above the row bound is scaled down by one factor for the count and the
    sums behind AVG and STDDEV, so the mean and spread of what remains are the weighted
    mean and spread of the rows (a member's own mean is kept), and the rounding of the
    scaling costs at most 2^-16 of a row per member."""
    sql = "SELECT COUNT(amount) AS n, AVG(amount) AS mean, STDDEV_POP(amount) AS sd FROM purchases"
    with zero_noise_for_tests():
        ((n, mean, sd),) = proxy.session("alice").query(sql).rows
    want = raw.execute(_SCALED).fetchone()
    assert want is not None
    n_want, mean_want, sd_want = want
    assert abs(n - n_want) <= 1  # rounded to a whole row for release
    assert math.isclose(mean, mean_want, rel_tol=1e-4), (mean, mean_want)
    assert math.isclose(sd, sd_want, rel_tol=1e-3), (sd, sd_want)


def test_unit_counts_over_public_keys_scale_a_unit_over_its_groups(
    tmp_path: Path, raw: duckdb.DuckDBPyConnection
) -> None:
    """With public keys a member in g > k = 6 groups counts 6 / g in each of them (its
    L1 norm over groups is k, as with ranking) instead of 1 in six random ones."""
    products = [row[0] for row in raw.execute("SELECT DISTINCT product FROM purchases").fetchall()]
    columns = {
        "loyalty_number": {"role": "privacy_unit"},
        "product": {"role": "dimension", "public_values": sorted(products)},
        "amount": {"role": "measure", "bounds": [0, 100]},
        "ts": {"role": "dimension"},
    }
    proxy = Proxy(write_policies(tmp_path, tables={"purchases": {"columns": columns}}))
    try:
        with zero_noise_for_tests():
            got = (
                proxy.session("alice")
                .query(
                    "SELECT product, COUNT(DISTINCT loyalty_number) FROM purchases GROUP BY product"
                )
                .rows
            )
    finally:
        proxy.close()
    want = raw.execute(
        """WITH groups AS (SELECT DISTINCT loyalty_number, product FROM purchases),
           per_member AS (SELECT loyalty_number, LEAST(1.0, 6.0 / COUNT(*)) AS f
                          FROM groups GROUP BY loyalty_number)
           SELECT product, SUM(f) FROM groups JOIN per_member USING (loyalty_number)
           GROUP BY product ORDER BY product"""
    ).fetchall()
    assert [row[0] for row in got] == [row[0] for row in want]
    for (_, n), (_, n_want) in zip(got, want, strict=True):
        assert abs(n - n_want) <= 1, (n, n_want)
