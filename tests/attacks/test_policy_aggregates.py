"""A table's ``aggregates`` list binds every aggregate over its rows, including those
whose argument reads none of its columns (SUM(1) counts rows; SUM(<public column>)
sums over them). Before hardening, such aggregates were checked against no table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dpproxy.errors import QueryRejected
from dpproxy.proxy import Proxy
from tests.attacks import dataset
from tests.synthetic import policies


@pytest.fixture(scope="module")
def units_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """purchases allows only COUNT(DISTINCT unit)."""
    root = tmp_path_factory.mktemp("aggregates")
    data = dataset.write(root / "data", victim=True)
    tables = {"purchases": {"aggregates": ["count_distinct"]}}
    proxy = Proxy(policies(root / "policies", data, config={"cache": False}, tables=tables))
    yield proxy
    proxy.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT SUM(1) FROM purchases",
        "SELECT AVG(2.5) FROM purchases",
        "SELECT COUNT(*) FROM purchases",
        "SELECT COUNT(1) FROM purchases",
        "SELECT COUNT(1 + 1) FROM purchases",
        "SELECT COUNT(p.product) FROM purchases p",
        "SELECT SUM(pr.list_price) FROM purchases p JOIN products pr ON p.product = pr.product",
        "SELECT COUNT(pr.category) FROM purchases p JOIN products pr ON p.product = pr.product",
    ],
)
def test_refused(units_only: Proxy, sql: str) -> None:
    with pytest.raises(QueryRejected) as error:
        units_only.session("alice").query(sql)
    assert error.value.sqlstate == "42501"
    assert "the policy of purchases does not allow" in error.value.message


def test_the_allowed_aggregate_is_answered(units_only: Proxy) -> None:
    result = units_only.session("alice").query(
        "SELECT COUNT(DISTINCT p.loyalty_number) FROM purchases p "
        "JOIN products pr ON p.product = pr.product"
    )
    assert result.columns == ("count",)
