"""DuckDB lockdown (REFERENCE.md section 3): checked on the live engine."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import duckdb
import pytest

from dpproxy.engine import Engine, Prepared
from dpproxy.engine.dialect import DuckDBDialect
from dpproxy.engine.duckdb import CancelToken, DuckDBEngine, cancellable
from dpproxy.errors import ExecutionFailed, QueryTimeout
from dpproxy.proxy import Proxy


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


SLOW = "SELECT COUNT(*) FROM range(1000000) a, range(100000) b WHERE a.range + b.range < 0"


def test_timeout_interrupts(proxy: Proxy) -> None:
    with pytest.raises(QueryTimeout):
        proxy.engine.execute(SLOW, timeout=0.2)


def _thread_cursor(engine: DuckDBEngine) -> object:
    return engine._local.cursor


def test_each_thread_keeps_its_own_cursor(proxy: Proxy) -> None:
    engine = proxy.engine
    assert engine.execute("SELECT 1") == [(1,)]
    mine = _thread_cursor(engine)
    assert engine.execute("SELECT 2") == [(2,)]
    assert _thread_cursor(engine) is mine  # reused, not one per query
    with ThreadPoolExecutor(1) as pool:
        theirs = pool.submit(lambda: (engine.execute("SELECT 3"), _thread_cursor(engine))).result()
    assert theirs[0] == [(3,)]
    assert theirs[1] is not mine


def test_an_interrupted_cursor_is_replaced(proxy: Proxy) -> None:
    """After a timeout or a cancel the thread's next query runs on a fresh cursor, so an
    interrupt that arrives late can never stop it."""
    engine = proxy.engine
    engine.execute("SELECT 1")
    before = _thread_cursor(engine)
    with pytest.raises(QueryTimeout):
        engine.execute(SLOW, timeout=0.2)
    assert engine.execute("SELECT 2") == [(2,)]
    after_timeout = _thread_cursor(engine)
    assert after_timeout is not before
    token = CancelToken()
    token.cancel()
    with cancellable(token), pytest.raises(QueryTimeout):
        engine.execute("SELECT 3")
    assert engine.execute("SELECT 4") == [(4,)]
    assert _thread_cursor(engine) is not after_timeout


def test_a_timer_that_fires_too_late_touches_nothing(proxy: Proxy) -> None:
    """Queries whose timer fires around the moment they end either answer or time out,
    and the thread's next query (no timeout) is never interrupted."""
    engine = proxy.engine
    for _ in range(200):
        with contextlib.suppress(QueryTimeout):
            assert engine.execute("SELECT 1", timeout=0.0002) == [(1,)]
        assert engine.execute("SELECT 2") == [(2,)]


class _RecordingDialect(DuckDBDialect):
    """DuckDB's semantics, recording every statement generated with them."""

    def __init__(self) -> None:
        self.generated: list[str] = []

    def generate(self, tree: Any) -> str:
        text = super().generate(tree)
        self.generated.append(text)
        return text


class _DelegatingEngine:
    """Another engine, as far as the pipeline can tell: only the ``Engine`` protocol."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.dialect = _RecordingDialect()
        self.schema = inner.schema
        self.prepared: list[str] = []

    @property
    def data_version(self) -> str:
        return self.inner.data_version

    def prepare(self, sql: str) -> Prepared:
        self.prepared.append(sql)
        return self.inner.prepare(sql)

    def check_binds(self, sql: str) -> None:
        self.inner.check_binds(sql)

    def interrupt_all(self) -> None:
        self.inner.interrupt_all()

    def close(self) -> None:
        self.inner.close()


def test_the_pipeline_uses_only_the_engine_protocol(fresh: Proxy) -> None:
    engine = _DelegatingEngine(fresh.engine)
    fresh.engine = engine
    session = fresh.session("alice")
    result = session.query("SELECT education, COUNT(*) FROM members GROUP BY 1", epsilon=1.0)
    assert len(result.rows) == 5
    session.explain("SELECT COUNT(*) FROM members")
    assert len(engine.dialect.generated) == 2  # the rewrite asked this engine's dialect
    assert engine.prepared[0] == engine.dialect.generated[0]
