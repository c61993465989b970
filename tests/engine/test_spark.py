"""Spark as a second engine: the same rewritten statements give the same pre-noise
integers on Spark (local[2], Spark Connect) as on DuckDB, on a dataset with hostile
values (NaN and infinite spends, a lone victim); the lockdown refuses what the rewrite
never writes. One Spark start per test session (15-30 s)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from dpproxy.check import check
from dpproxy.errors import InternalError
from dpproxy.parse import parse
from dpproxy.plan import make_plan
from dpproxy.policy.model import Accounting
from dpproxy.proxy import Proxy
from dpproxy.rewrite import rewrite
from tests.attacks import dataset
from tests.rewrite.test_golden import CASES
from tests.synthetic import policies, write_table

pytest.importorskip("pyspark")
pytestmark = pytest.mark.spark

PRODUCTS = {"product": "VARCHAR", "category": "VARCHAR", "list_price": "DOUBLE"}
# Beyond the golden cases: expressions whose Spark form differs from DuckDB's.
HOSTILE = {
    "spend_sum": "SELECT city, SUM(annual_spend), AVG(annual_spend) FROM members GROUP BY city",
    "dow": "SELECT EXTRACT(DOW FROM ts) AS d, COUNT(*) FROM purchases GROUP BY d",
    "month": "SELECT date_trunc('month', ts) AS m, SUM(amount) FROM purchases GROUP BY m",
    "isodow_hour": (
        "SELECT EXTRACT(ISODOW FROM ts) AS d, COUNT(*) FROM purchases "
        "WHERE EXTRACT(HOUR FROM ts) > 10 GROUP BY d"
    ),
    "division": (
        "SELECT SUM(annual_spend / 4), COUNT(*) FROM members "
        "WHERE age % 7 = 1 OR 100 / (age - 20) > 3"
    ),
    "casts": "SELECT CAST(age * 1.5 AS BIGINT) % 4 AS r, COUNT(*) FROM members GROUP BY r",
    "text": (
        "SELECT substring(upper(city), 1, 3) AS c, SUM(-age) FROM members "
        "WHERE city LIKE 'S%' OR abs(age - 50) < 10 GROUP BY c"
    ),
    "ts_key": "SELECT ts, COUNT(*) FROM purchases WHERE amount > 8 GROUP BY ts",
}


def _directory(root: Path, engine: dict[str, Any] | None) -> Path:
    data = dataset.write(root / "data", victim=True)
    rows = [tuple(line.split(",")) for line in (data / "products.csv").read_text().splitlines()[1:]]
    write_table(data / "products.parquet", PRODUCTS,
                [(p, c, float(price)) for p, c, price in rows])  # fmt: skip
    config = None if engine is None else {"engine": engine}
    return policies(root / "policies", data, config=config,
                    tables={"products": {"source": {"parquet": "products.parquet"}}})  # fmt: skip


@pytest.fixture(scope="session")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, Proxy, float]]:
    duck = Proxy(_directory(tmp_path_factory.mktemp("duck"), None))
    start = time.monotonic()
    spark = Proxy(
        _directory(tmp_path_factory.mktemp("spark"), {"kind": "spark", "remote": "local[2]"})
    )
    started = time.monotonic() - start
    yield duck, spark, started
    spark.close()
    duck.close()


def _rows(proxy: Proxy, sql: str) -> list[tuple[Any, ...]]:
    query = check(parse(sql), proxy.catalog)
    plan = make_plan(query, Fraction(1), Fraction(1, 10**7), Accounting.PURE)
    statement = rewrite(plan, 7, proxy.engine.dialect)
    with proxy.engine.prepare(statement) as prepared:
        return prepared.execute(timeout=120)


def _comparable(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    def norm(v: Any) -> Any:
        return "NaN" if isinstance(v, float) and math.isnan(v) else v

    return sorted((tuple(norm(v) for v in row) for row in rows), key=repr)


@pytest.mark.parametrize("name", [*sorted(CASES), *sorted(HOSTILE)])
def test_same_pre_noise_integers(name: str, engines: tuple[Proxy, Proxy, float]) -> None:
    duck, spark, _ = engines
    sql = CASES.get(name) or HOSTILE[name]
    expected = _comparable(_rows(duck, sql))
    assert expected  # the statement returned groups at all
    assert _comparable(_rows(spark, sql)) == expected


def test_session_is_locked_down(engines: tuple[Proxy, Proxy, float]) -> None:
    _, spark, started = engines
    print(f"spark start {started:.1f} s")
    from dpproxy.engine.spark import SESSION_SETTINGS, SparkEngine

    engine = spark.engine
    assert isinstance(engine, SparkEngine)
    for key, value in SESSION_SETTINGS.items():
        assert engine._spark.conf.get(key) == value
    for sql in (
        "SELECT * FROM text.`/etc/passwd`",
        "SELECT reflect('java.lang.System', 'getenv', 'HOME')",
        "SELECT '${env:HOME}' AS h FROM members",
        "SET spark.sql.ansi.enabled = false",
        "SELECT 1 FROM members; SELECT 2",
        "SELECT input_file_name() FROM members",
        "SELECT * FROM global_temp.members",
        "SELECT * FROM range(10)",
        "EXECUTE IMMEDIATE 'SELECT 1'",
    ):
        with pytest.raises(InternalError):
            engine.check_statement(sql)


def test_one_dp_query_end_to_end(engines: tuple[Proxy, Proxy, float]) -> None:
    _, spark, _ = engines
    session = spark.session("alice")
    timings = []
    for epsilon in (1.0, 1.1, 1.2):  # distinct queries: no cache hit
        start = time.monotonic()
        result = session.query("SELECT city, COUNT(*) FROM members GROUP BY city", epsilon=epsilon)
        timings.append(time.monotonic() - start)
    print(f"spark DP query: {', '.join(f'{t:.2f}' for t in timings)} s")
    assert result.rows is not None
