"""Golden fixtures for the rewrite: the exact SQL each plan becomes (salt fixed).

Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/rewrite``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from dpproxy.check import check
from dpproxy.parse import parse
from dpproxy.plan import make_plan
from dpproxy.policy.model import Accounting
from dpproxy.proxy import Proxy
from dpproxy.rewrite import RULES, rewrite
from tests.conftest import write_policies

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rewrite"
CASES = {
    "global_count": "SELECT COUNT(*) FROM members",
    "selected_keys": "SELECT city, COUNT(*) AS n, AVG(annual_spend) FROM members GROUP BY city",
    "public_keys": "SELECT education, gender, SUM(annual_spend) FROM members GROUP BY 1, 2",
    "join_units": (
        "SELECT m.city, COUNT(DISTINCT m.loyalty_number), STDDEV(p.amount) FROM members m "
        "JOIN purchases p ON m.loyalty_number = p.loyalty_number WHERE m.age > 30 GROUP BY m.city"
    ),
    "public_join": (
        "SELECT pr.category, SUM(CASE WHEN p.amount > 10 THEN p.amount ELSE 0 END) "
        "FROM purchases p JOIN products pr ON p.product = pr.product GROUP BY pr.category"
    ),
    "int_division": "SELECT age / 10 * 10 AS decade, SUM(age / 3) FROM members GROUP BY decade",
}


# With no minimum group size and no unit count, contributions are bounded per row (no
# (unit, group) aggregate): the shape of most public-key queries.
PER_ROW_CASES = {
    "per_row_public_join": (
        "SELECT pr.category, COUNT(*), AVG(p.amount) FROM purchases p "
        "JOIN products pr ON p.product = pr.product GROUP BY pr.category"
    ),
    "per_row_global": "SELECT SUM(amount), STDDEV(amount) FROM purchases",
}


@pytest.fixture(scope="module")
def no_minimum(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    directory = tmp_path_factory.mktemp("no_minimum")
    proxy = Proxy(write_policies(directory, tables={"purchases": {"min_group_size": 0}}))
    yield proxy
    proxy.close()


@pytest.mark.parametrize("name", sorted(PER_ROW_CASES))
def test_golden_per_row(name: str, no_minimum: Proxy) -> None:
    query = check(parse(PER_ROW_CASES[name]), no_minimum.catalog)
    plan = make_plan(query, Fraction(1), Fraction(1, 10**7), Accounting.PURE)
    sql = rewrite(plan, 7)
    assert "GROUP BY __pu," not in sql  # no (unit, group) aggregate
    path = FIXTURES / f"{name}.sql"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(sql + "\n")
    assert sql + "\n" == path.read_text()
    no_minimum.engine.check_binds(sql)


def test_rules_are_explicit() -> None:
    assert [r.__name__ for r in RULES] == [
        "source", "fixed_point", "per_unit", "rank_groups", "clip", "per_group", "public_keys",
    ]  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str, proxy: Proxy) -> None:
    query = check(parse(CASES[name]), proxy.catalog)
    plan = make_plan(query, Fraction(1), Fraction(1, 10**7), Accounting.PURE)
    sql = rewrite(plan, 7)
    path = FIXTURES / f"{name}.sql"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(sql + "\n")
    assert sql + "\n" == path.read_text()
    proxy.engine.check_binds(sql)  # and DuckDB binds it


@pytest.mark.parametrize("name", sorted(CASES))
def test_rewrite_reads_only_policy_tables(name: str, proxy: Proxy) -> None:
    query = check(parse(CASES[name]), proxy.catalog)
    sql = rewrite(make_plan(query, Fraction(1), Fraction(1, 10**7), Accounting.PURE), 7)
    tables = set(re.findall(r'(?:FROM|JOIN) "(\w+)"', sql))
    assert tables <= set(proxy.catalog.tables)
    for banned in ("read_", "query(", "COPY", "ATTACH", "PRAGMA", "random()", ";"):
        assert banned not in sql
    has_expressions = (
        query.keys
        or query.filter is not None
        or any(a.argument is not None for a in query.aggregates)
    )
    assert ("TRY(" in sql) == bool(has_expressions)  # analyst expressions are made total
