"""The error channel, fuzzed: generated queries (casts, divisions, overflows, string and
date arithmetic among them) over a dataset of extreme values never fail at run time.

Every value that makes an operation fail sits in one row: the largest and smallest
BIGINT, NaN and both infinities, the largest double, an empty and a 10,000-character
string, text that looks like a number, infinite and far-future timestamps, NULL in every
column. An accepted query must be answered (each failing operation gives NULL inside
TRY); a refusal must come before execution. A run-time failure (XX000) would be an error
that depends on a row.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import duckdb
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dpproxy.errors import DPProxyError
from dpproxy.proxy import Proxy
from tests.conftest import SAMPLE
from tests.property.grammar import queries
from tests.synthetic import policies

MEMBERS = """
SELECT * FROM (VALUES
  (1, 'Salem', 'Single', 'College', 'Male', 9223372036854775807, 'nan'::DOUBLE),
  (2, '', 'Married', 'Master', 'Female', -9223372036854775808, 'inf'::DOUBLE),
  (3, repeat('x', 10000), NULL, 'Doctor', 'Other', 0, '-inf'::DOUBLE),
  (4, '123', 'Divorced', NULL, NULL, -1, 1.7976931348623157e308),
  (5, '%_\\', 'Widowed', 'High School', 'Male', NULL, -0.0),
  (6, NULL, 'Single', 'Bachelor', 'Female', 77, NULL),
  (7, 'Solitude', 'Single', 'Bachelor', 'Female', 30, 5e-324),
  (NULL, 'Salem', 'Single', 'College', 'Male', 40, 100.0)
) t(loyalty_number, city, marital_status, education, gender, age, annual_spend)
"""
PURCHASES = """
SELECT loyalty_number::BIGINT AS loyalty_number, product, amount::DOUBLE AS amount,
       ts::TIMESTAMP AS ts FROM (VALUES
  (1, 'latte', 'nan', 'infinity'),
  (2, '', 'inf', '-infinity'),
  (3, repeat('y', 10000), '-inf', '294246-12-31 23:59:59'),
  (4, NULL, '1e308', '1677-09-22 00:00:00'),
  (5, 'espresso', NULL, NULL),
  (6, 'mug', '-1e308', '2024-02-29 12:00:00'),
  (7, 'latte', '4.2', '2024-01-01 00:00:00')
) t(loyalty_number, product, amount, ts)
"""


@pytest.fixture(scope="module")
def extreme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    root = tmp_path_factory.mktemp("extreme")
    data = root / "data"
    data.mkdir()
    con = duckdb.connect()
    try:
        for name, query in (("members", MEMBERS), ("purchases", PURCHASES)):
            con.execute(f"COPY ({query}) TO ? (FORMAT parquet)", [str(data / f"{name}.parquet")])
    finally:
        con.close()
    shutil.copy(SAMPLE / "products.csv", data / "products.csv")
    tables = {name: {"min_group_size": 0} for name in ("members", "purchases")}
    proxy = Proxy(policies(root / "policies", data, config={"cache": False}, tables=tables))
    yield proxy
    proxy.close()


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(sql=queries(), epsilon=st.sampled_from([0.1, 1.0]))
def test_no_row_makes_an_accepted_query_fail(sql: str, epsilon: float, extreme: Proxy) -> None:
    try:
        extreme.session("alice").query(sql, epsilon=epsilon)
    except DPProxyError as error:
        event(f"refused {error.sqlstate}")
        assert error.sqlstate not in ("XX000", "57014", "53200"), (error.sqlstate, sql)
        return
    event("answered")


def test_the_extreme_rows_are_there(extreme: Proxy) -> None:
    raw = extreme.engine.raw_connection_for_tests()
    ages = raw.execute("SELECT MIN(age), MAX(age), COUNT(*) FROM members").fetchone()
    assert ages == (-9223372036854775808, 9223372036854775807, 8)
    (infinite,) = raw.execute("SELECT COUNT(*) FROM purchases WHERE isinf(ts)").fetchone() or (0,)
    assert infinite == 2
