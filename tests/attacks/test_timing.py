"""The per-query time limit (``queries.timeout_seconds``), through the whole pipeline.

It covers execution in the engine and the noise stage (exact sampling costs micro-
seconds per draw, so millions of candidate groups take long). A query stopped by the
limit fails with the generic 57014 error and keeps its charge: whether it ran long may
depend on the data. What the limit does not remove, the time an answer takes, is the
residual channel the README documents.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from dpproxy.errors import QueryTimeout
from dpproxy.noise.mechanisms import DiscreteLaplace
from dpproxy.proxy import Proxy
from tests.attacks.test_limits import QUERIES
from tests.instrument import instrument
from tests.synthetic import policies

EPSILON_UNITS = 5 * 10**11  # the default epsilon 0.5, in ledger units


def _timed(proxy: Proxy, sql: str) -> tuple[QueryTimeout, float]:
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as error:
        proxy.session("alice").query(sql)
    return error.value, time.monotonic() - started


@pytest.mark.slow
def test_the_engine_is_interrupted_at_the_limit(
    tmp_path: Path, big: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"cache": False, "queries": {**QUERIES, "timeout_seconds": 0.05}}
    proxy = Proxy(policies(tmp_path / "policies", big, config=config))
    try:
        probe = instrument(proxy, monkeypatch)
        before = proxy.ledger.spent("member", "alice")
        error, elapsed = _timed(proxy, "SELECT ts, COUNT(*) FROM purchases GROUP BY ts")
        assert error.sqlstate == "57014" and error.message == "query cancelled: time limit reached"
        assert elapsed < 1.0, elapsed  # the query alone takes seconds
        assert probe.executed == 1 and probe.rows_read == 0 and not probe.noised
        assert proxy.ledger.spent("member", "alice").epsilon - before.epsilon == EPSILON_UNITS
    finally:
        proxy.close()


def test_the_noise_stage_is_inside_the_limit(
    tmp_path: Path, corpus_data: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each draw made slow (2 ms): noising the ~380 groups of GROUP BY ts would take over
    a second and a half; the query stops at the 0.3 s limit instead."""
    config = {"cache": False, "queries": {**QUERIES, "timeout_seconds": 0.3}}
    proxy = Proxy(policies(tmp_path / "policies", corpus_data[0], config=config))
    sample = DiscreteLaplace.sample

    def slow(self: Any) -> int:
        time.sleep(0.002)
        return sample(self)

    try:
        monkeypatch.setattr(DiscreteLaplace, "sample", slow)
        probe = instrument(proxy, monkeypatch)
        before = proxy.ledger.spent("member", "alice")
        error, elapsed = _timed(proxy, "SELECT ts, COUNT(*) FROM purchases GROUP BY ts")
        assert error.sqlstate == "57014"
        assert probe.rows_read > 300  # the engine answered in time; the noise stage did not
        assert 0 < len(probe.draws) < 2 * probe.rows_read
        assert 0.3 <= elapsed < 0.9, elapsed
        assert proxy.ledger.spent("member", "alice").epsilon - before.epsilon == EPSILON_UNITS
    finally:
        proxy.close()


def test_a_query_within_the_limit_is_answered(
    tmp_path: Path, corpus_data: tuple[Path, Path]
) -> None:
    config = {"cache": False, "queries": {**QUERIES, "timeout_seconds": 5}}
    proxy = Proxy(policies(tmp_path / "policies", corpus_data[0], config=config))
    try:
        result = proxy.session("alice").query("SELECT ts, COUNT(*) FROM purchases GROUP BY ts")
        assert result.columns == ("ts", "count")
    finally:
        proxy.close()
