"""The error channel is closed: an accepted query cannot fail because of one row.

An error that fires only for the victim's row (a failing cast, an overflow, an integer
division by zero) would answer on D' and fail on D: one bit about the victim, outside
any budget. The rewrite wraps every analyst expression in TRY, so such a row gives NULL.
These tests show the corpus's neighbour checks would see the channel if TRY were gone,
and that what remains (a failure of the engine itself) is one generic, charged error.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from dpproxy.engine import PreparedQuery
from dpproxy.engine.dialect import DuckDBDialect
from dpproxy.errors import DPProxyError, ExecutionFailed
from dpproxy.proxy import Proxy
from tests.attacks import dataset

CORPUS = Path(__file__).resolve().parent / "corpus" / "errors.yaml"
ROW_TRIGGERED = [
    case["sql"]
    for case in yaml.safe_load(CORPUS.read_text())
    if case["outcome"] == "neighbours" and case["expect"] == "answered"
]


def _outcome(proxy: Proxy, sql: str) -> str:
    try:
        proxy.session("alice").query(sql)
    except DPProxyError as error:
        return error.sqlstate
    return "answered"


@pytest.mark.parametrize("sql", ROW_TRIGGERED, ids=[s[:60] for s in ROW_TRIGGERED])
def test_row_triggered_errors_become_null(sql: str, d_proxy: Proxy, d_prime_proxy: Proxy) -> None:
    assert _outcome(d_proxy, sql) == _outcome(d_prime_proxy, sql) == "answered"


def test_without_try_the_victim_row_would_be_visible(
    d_proxy: Proxy, d_prime_proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same neighbour comparison, against a rewrite that forgets TRY: several of the
    corpus's attacks then fail on D only. (So the comparison can see the channel.)"""
    monkeypatch.setattr(DuckDBDialect, "total", lambda self, node: node)
    differing = [
        sql for sql in ROW_TRIGGERED if _outcome(d_proxy, sql) != _outcome(d_prime_proxy, sql)
    ]
    assert len(differing) >= 5, differing
    victim_only = "SELECT COUNT(*) FROM members WHERE 100 / (age - 77) <> 0"
    assert _outcome(d_proxy, victim_only) == "XX000"
    assert _outcome(d_prime_proxy, victim_only) == "answered"


def test_an_engine_failure_is_one_generic_charged_error(
    d_proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the engine raises, with whatever data in its message, the analyst sees
    the same text, and the reserved budget stays spent."""
    secret = f"Conversion Error: could not convert 'Solitude' for {dataset.VICTIM}"

    def failing(self: PreparedQuery, timeout: float | None = None) -> list[tuple[object, ...]]:
        raise RuntimeError(secret)

    monkeypatch.setattr(PreparedQuery, "execute", failing)
    before = d_proxy.ledger.spent("member", "alice")
    with pytest.raises(ExecutionFailed) as error:
        d_proxy.session("alice").query("SELECT COUNT(*) FROM members", epsilon=0.25)
    assert error.value.sqlstate == "XX000"
    assert error.value.message == "query execution failed; its privacy budget has been charged"
    assert error.value.detail is None and error.value.__cause__ is None
    assert d_proxy.ledger.spent("member", "alice").epsilon - before.epsilon == 25 * 10**10


def test_the_engine_hides_the_message_of_a_real_failure(d_proxy: Proxy) -> None:
    """A statement that really fails on the victim's row (not one dpproxy would build)."""
    with pytest.raises(ExecutionFailed) as error:
        d_proxy.engine.execute("SELECT CAST(city AS INTEGER) FROM members WHERE age = 77")
    assert "Solitude" not in str(error.value) and error.value.__cause__ is None


def test_the_engine_keeps_try_in_place(d_proxy: Proxy) -> None:
    """DuckDB's common-subexpression optimizer hoists a repeated expression out of TRY;
    the locked engine runs with it disabled, and the setting cannot be changed."""
    assert d_proxy.engine.setting("disabled_optimizers") == "common_subexpressions"
    raw = d_proxy.engine.raw_connection_for_tests()
    with pytest.raises(duckdb.Error):
        raw.execute("SET disabled_optimizers = ''")
    repeated = "TRY(CAST(age * 430 AS SMALLINT) + CAST(age * 430 AS SMALLINT))"
    rows = raw.execute(f"SELECT {repeated} FROM members WHERE age = 77").fetchall()
    assert rows == [(None,)]
