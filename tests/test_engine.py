"""DuckDB lockdown (REFERENCE.md section 3): checked on the live engine."""

from __future__ import annotations

import duckdb
import pytest

from dpproxy.api import Proxy
from dpproxy.errors import ExecutionFailed


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("enable_external_access", False),
        ("lock_configuration", True),
        ("autoload_known_extensions", False),
        ("autoinstall_known_extensions", False),
        ("allow_community_extensions", False),
        ("allow_unsigned_extensions", False),
        ("python_enable_replacements", False),
    ],
)
def test_settings(proxy: Proxy, setting: str, value: bool) -> None:
    assert proxy.engine.setting(setting) == value


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "COPY (SELECT 1) TO '/tmp/dpproxy-leak.csv'",
        "ATTACH '/tmp/other.db' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SELECT * FROM leaked_python_variable",
    ],
)
def test_locked_connection_refuses(proxy: Proxy, sql: str) -> None:
    leaked_python_variable = [1, 2, 3]  # noqa: F841 - replacement scans must not see it
    with pytest.raises(duckdb.Error):
        proxy.engine.raw_connection_for_tests().execute(sql)


def test_execution_errors_are_generic(proxy: Proxy) -> None:
    with pytest.raises(ExecutionFailed) as error:
        proxy.engine.execute("SELECT CAST(city AS INTEGER) FROM members")
    assert "Springfield" not in str(error.value)
    assert error.value.sqlstate == "XX000"


def test_timeout_interrupts(proxy: Proxy) -> None:
    from dpproxy.errors import QueryTimeout

    slow = "SELECT COUNT(*) FROM range(1000000) a, range(100000) b WHERE a.range + b.range < 0"
    with pytest.raises(QueryTimeout):
        proxy.engine.execute(slow, timeout=0.2)
