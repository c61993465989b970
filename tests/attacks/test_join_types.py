"""A join of columns whose types differ is refused by the checker.

A join condition is not wrapped in TRY (that would defeat the hash join), so a VARCHAR
column joined with an INTEGER one makes DuckDB cast every value: one row whose text is
not a number fails the whole query, on D and not on D'. Here purchases.product holds
numbers written as text, except for the victim's purchase, and a public catalog keys its
products by INTEGER.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from dpproxy.errors import QueryRejected
from dpproxy.proxy import Proxy
from tests.attacks import dataset
from tests.instrument import instrument
from tests.synthetic import policies, write_dataset, write_table

PRODUCTS = {"product": "BIGINT", "category": "VARCHAR", "list_price": "DOUBLE"}
SQL = "SELECT COUNT(*) FROM purchases p JOIN products pr ON p.product = pr.product"


def _data(directory: Path, *, victim: bool) -> Path:
    when = dt.datetime(2024, 1, 1)
    purchases = [(1000 + i, str(i % 5), 2.0, when) for i in range(150)]
    if victim:
        purchases.append((dataset.VICTIM, "espresso machine", 449.0, when))
    write_dataset(directory, dataset.members(victim=victim), purchases)
    write_table(directory / "products.parquet", PRODUCTS, [(i, "coffee", 2.0) for i in range(5)])
    return directory


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, Proxy]]:
    root = tmp_path_factory.mktemp("join_types")
    columns = {
        "product": {"type": "bigint", "role": ["dimension", "join_key"]},
        "category": {"type": "text", "role": "dimension"},
        "list_price": {"type": "double", "role": ["dimension", "measure"], "bounds": [0, 500]},
    }
    tables = {"products": {"source": {"parquet": "products.parquet"}, "columns": columns}}
    proxies = tuple(
        Proxy(policies(root / f"p{i}", _data(root / f"d{i}", victim=victim),
                       config={"cache": False}, tables=tables))
        for i, victim in enumerate((True, False))
    )  # fmt: skip
    yield proxies[0], proxies[1]
    for proxy in proxies:
        proxy.close()


def test_mismatched_join_types_are_refused_on_both(
    pair: tuple[Proxy, Proxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    for proxy in pair:
        probe = instrument(proxy, monkeypatch)
        with pytest.raises(QueryRejected) as error:
            proxy.session("alice").query(SQL)
        assert error.value.sqlstate == "42804"
        assert "join columns must have the same type (VARCHAR and BIGINT)" in error.value.message
        assert not probe.touched_engine


def test_the_engine_would_fail_on_the_victim_only(pair: tuple[Proxy, Proxy]) -> None:
    """What the check prevents: the same join, run directly, fails only on D."""
    statement = 'SELECT COUNT(*) FROM "purchases" p JOIN "products" pr ON p.product = pr.product'
    outcomes = []
    for proxy in pair:
        try:
            proxy.engine.raw_connection_for_tests().execute(statement).fetchall()
            outcomes.append("answered")
        except Exception as error:  # noqa: BLE001 - any engine error is the point here
            outcomes.append(type(error).__name__)
    assert outcomes == ["ConversionException", "answered"]
