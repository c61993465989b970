"""The corpus's neighbouring datasets D (with the victim) and D' (without), each behind
its own proxy with the result cache off, so every answer draws fresh noise."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dpproxy.proxy import Proxy
from tests.attacks import dataset
from tests.conftest import SAMPLE
from tests.synthetic import policies


@pytest.fixture(scope="session")
def corpus_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("corpus")
    return (
        dataset.write(root / "d", victim=True),
        dataset.write(root / "d_prime", victim=False),
    )


@pytest.fixture(scope="session")
def d_proxy(
    corpus_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    directory = tmp_path_factory.mktemp("corpus_d")
    proxy = Proxy(policies(directory, corpus_data[0], config={"cache": False}))
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def d_prime_proxy(
    corpus_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    directory = tmp_path_factory.mktemp("corpus_d_prime")
    proxy = Proxy(policies(directory, corpus_data[1], config={"cache": False}))
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two million purchases, written by DuckDB itself (a second)."""
    directory = tmp_path_factory.mktemp("big")
    con = duckdb.connect()
    try:
        con.execute(
            "COPY (SELECT (i % 100000)::BIGINT AS loyalty_number, 'p' || (i % 1000) AS product, "
            "(i % 97)::DOUBLE AS amount, TIMESTAMP '2024-01-01' + to_seconds(i) AS ts "
            "FROM range(2000000) t(i)) TO ? (FORMAT parquet)",
            [str(directory / "purchases.parquet")],
        )
        con.execute(
            "COPY (SELECT i::BIGINT AS loyalty_number, 'c' || (i % 50) AS city, "
            "'Single' AS marital_status, 'College' AS education, 'Male' AS gender, "
            "(20 + i % 60)::BIGINT AS age, (i % 5000)::DOUBLE AS annual_spend "
            "FROM range(100000) t(i)) TO ? (FORMAT parquet)",
            [str(directory / "members.parquet")],
        )
    finally:
        con.close()
    shutil.copy(SAMPLE / "products.csv", directory / "products.csv")
    return directory
