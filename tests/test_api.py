"""The Python API end to end: results, accuracy, charges, rejections, limits."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import dpproxy
from dpproxy.engine import PreparedQuery
from dpproxy.errors import (
    BudgetExhausted,
    ExecutionFailed,
    InvalidParameter,
    QueryLimitExceeded,
    QueryRejected,
)
from dpproxy.proxy import Proxy
from tests.conftest import ROOT, write_policies


def test_result_shape(session: dpproxy.Session) -> None:
    result = session.query(
        "SELECT education, COUNT(*) AS n, AVG(annual_spend) AS spend FROM members GROUP BY 1",
        epsilon=1.0,
    )
    assert result.columns == ("education", "n", "spend")
    assert sorted(r[0] for r in result.rows) == ["Bachelor", "College", "Doctor", "High School",
                                                  "Master"]  # fmt: skip
    assert all(isinstance(r[1], int) and isinstance(r[2], float) for r in result.rows)
    assert result.epsilon == 1.0 and result.delta == 0.0
    n, spend = result.accuracy[1], result.accuracy[2]
    assert n.mechanism == spend.mechanism == "discrete_laplace"
    assert n.scale == 3.0  # rows count: sensitivity 1, epsilon 1/3
    # measured in 2^-16 of a unit: the 95% half-width of Laplace b = 3, 3 ln 20
    assert n.ci95 == pytest.approx(3 * math.log(20), rel=1e-4)
    assert spend.ci95 is not None and 0 < spend.ci95 < 2000
    assert result.accuracy[0].mechanism == "public key list"
    payload = result.to_dict()
    assert set(payload) >= {"columns", "rows", "epsilon", "delta", "budget_remaining", "accuracy"}
    json.dumps(payload)


def test_charges_are_exact(fresh: Proxy) -> None:
    session = fresh.session("alice")
    first = session.query("SELECT COUNT(*) FROM members", epsilon=0.1)
    second = session.query("SELECT COUNT(*) FROM members WHERE age > 30", epsilon=0.2)
    assert first.budget_remaining["epsilon"] == pytest.approx(999.9, abs=0)
    assert second.budget_remaining["epsilon"] == 999.7
    assert [line.epsilon_spent for line in session.budget()] == [pytest.approx(0.3, abs=1e-12)]


def test_exactly_the_budget_passes_and_a_hair_over_fails(fresh: Proxy) -> None:
    bob = fresh.session("bob")  # epsilon budget 1.0
    bob.query("SELECT COUNT(*) FROM members", epsilon=0.6)
    with pytest.raises(BudgetExhausted) as error:
        bob.query("SELECT COUNT(*) FROM members", epsilon=0.400000000001)
    assert "needs epsilon 0.4" in error.value.message
    assert "0.4 remaining" in error.value.message
    assert error.value.sqlstate == "53P01"
    result = bob.query("SELECT COUNT(*) FROM members", epsilon=0.4)
    assert result.budget_remaining["epsilon"] == 0
    with pytest.raises(BudgetExhausted):
        bob.query("SELECT COUNT(*) FROM members", epsilon=0.000001)


def test_rejections_cost_nothing(fresh: Proxy) -> None:
    session = fresh.session("bob")
    for sql in ("SELECT * FROM members", "SELECT COUNT(*) FROM members WHERE lower(age) = 'x'"):
        with pytest.raises(QueryRejected):
            session.query(sql, epsilon=1.0)
    assert fresh.ledger.spent("member", "bob").epsilon == 0


def test_type_errors_are_rejections(fresh: Proxy) -> None:
    with pytest.raises(QueryRejected) as error:
        fresh.session("alice").query("SELECT COUNT(*) FROM members WHERE lower(age) = 'x'")
    assert error.value.sqlstate == "42804"


def test_execution_failure_keeps_the_charge(fresh: Proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: PreparedQuery, timeout: float | None = None) -> list[tuple[object, ...]]:
        raise ExecutionFailed()

    monkeypatch.setattr(PreparedQuery, "execute", fail)
    with pytest.raises(ExecutionFailed) as error:
        fresh.session("bob").query("SELECT COUNT(*) FROM members", epsilon=0.25)
    assert "charged" in error.value.message
    assert fresh.ledger.spent("member", "bob").epsilon == 250_000_000_000


def test_epsilon_limits(session: dpproxy.Session) -> None:
    with pytest.raises(QueryLimitExceeded, match="exceeds the per-query maximum"):
        session.query("SELECT COUNT(*) FROM members", epsilon=51)
    with pytest.raises(QueryLimitExceeded, match="below the per-query minimum"):
        session.query("SELECT COUNT(*) FROM members", epsilon=1e-10)
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(InvalidParameter):
            session.query("SELECT COUNT(*) FROM members", epsilon=bad)


def test_unknown_analyst(proxy: Proxy) -> None:
    with pytest.raises(InvalidParameter, match="unknown analyst 'mallory'"):
        proxy.session("mallory")


def test_small_groups_are_suppressed_by_noisy_count(session: dpproxy.Session) -> None:
    result = session.query(
        "SELECT COUNT(*), AVG(age) FROM members WHERE city = 'nowhere'", epsilon=6
    )
    assert result.rows == [(None, None)]  # min_group_size 10 on a noisy count near 0


def test_having_order_limit_act_on_noisy_values(session: dpproxy.Session) -> None:
    result = session.query(
        "SELECT city, COUNT(*) AS n FROM members GROUP BY city HAVING COUNT(*) > 500 "
        "ORDER BY n DESC LIMIT 3",
        epsilon=2.0,
    )
    counts = [row[1] for row in result.rows]
    assert len(counts) == 3 and counts == sorted(counts, reverse=True)
    assert all(c > 500 for c in counts)
    assert result.rows[0][0] == "Springfield"


def test_explain_touches_nothing(fresh: Proxy) -> None:
    explanation = fresh.session("bob").explain(
        "SELECT city, COUNT(*), SUM(annual_spend) FROM members GROUP BY city", epsilon=0.5
    )
    assert explanation.epsilon == 0.5 and explanation.delta == 1e-7
    assert explanation.threshold is not None and explanation.threshold > 10
    assert explanation.accuracy[2].scale == pytest.approx(20_000 / 0.25)
    assert explanation.accuracy[2].ci95 is not None
    assert fresh.ledger.spent("member", "bob").epsilon == 0


def test_errors_never_carry_data(session: dpproxy.Session) -> None:
    for sql in (
        "SELECT city FROM members",
        "SELECT COUNT(*) FROM members WHERE CAST(city AS INTEGER) = 1",
        "SELECT SUM(city) FROM members",
    ):
        try:
            session.query(sql)
        except dpproxy.DPProxyError as exc:
            text = exc.message + (exc.detail or "")
            assert "Springfield" not in text and "Riverton" not in text


def test_charge_is_visible_to_another_process(fresh: Proxy) -> None:
    script = (
        "import sys, dpproxy\n"
        "db = dpproxy.connect(sys.argv[1], analyst='bob')\n"
        "db.query('SELECT COUNT(*) FROM members', epsilon=0.3)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(fresh.policies.directory)], check=True,
                   cwd=ROOT)  # fmt: skip
    assert fresh.ledger.spent("member", "bob").epsilon == 300_000_000_000
    assert fresh.session("bob").budget()[0].epsilon_remaining == pytest.approx(0.7)


def test_connect_and_close(tmp_path: Path, fresh: Proxy) -> None:
    with dpproxy.connect(fresh.policies.directory, analyst="alice") as db:
        assert db.query("SELECT COUNT(*) FROM members").columns == ("count",)


def test_describe_types_without_executing(fresh: Proxy) -> None:
    session = fresh.session("bob")
    types = session.describe(
        "SELECT city, COUNT(*), SUM(age), AVG(annual_spend), SUM(annual_spend), "
        "COUNT(*) > 5 AS big, ROUND(AVG(age), 1), 'label' "
        "FROM members GROUP BY city"
    )
    assert [(t.name, t.sql_type) for t in types] == [
        ("city", "VARCHAR"), ("count", "BIGINT"), ("sum", "BIGINT"), ("avg", "DOUBLE"),
        ("sum", "DOUBLE"), ("big", "BOOLEAN"), ("round", "DOUBLE"), ("?column?", "VARCHAR"),
    ]  # fmt: skip
    assert fresh.ledger.spent("member", "bob").epsilon == 0


def test_answer_certain_to_be_too_large_is_refused_before_the_charge(tmp_path: Path) -> None:
    from tests.conftest import write_policies

    config = {"queries": {"default_epsilon": 0.5, "max_epsilon": 5.0, "max_output_cells": 10}}
    proxy = Proxy(write_policies(tmp_path / "p", config=config,
                                 tables={"members": {"min_group_size": 0}}))  # fmt: skip
    try:
        session = proxy.session("bob")
        with pytest.raises(QueryLimitExceeded, match="would have 45 cells"):
            session.query("SELECT gender, education, COUNT(*) FROM members GROUP BY 1, 2")
        assert proxy.ledger.spent("member", "bob").epsilon == 0
        small = session.query("SELECT gender, education, COUNT(*) FROM members GROUP BY 1, 2 "
                              "LIMIT 3")  # fmt: skip
        assert len(small.rows) == 3
    finally:
        proxy.close()


def test_a_suppressed_cell_releases_no_accuracy_figure(tmp_path: Path) -> None:
    """A cell hidden by min_group_size carries neither a value nor a width: the presence
    of a figure would tell what the suppressed cell's noisy internals were."""
    huge = {"members": {"min_group_size": 10**6}}
    proxy = Proxy(write_policies(tmp_path / "p", config={"cache": False}, tables=huge))
    try:
        result = proxy.session("alice").query(
            "SELECT COUNT(*) AS n, AVG(age) AS a, STDDEV(age) AS s FROM members", epsilon=1.0
        )
        assert result.rows == [(None, None, None)]
        assert [a.ci95 for a in result.accuracy] == [None, None, None]
        grouped = proxy.session("alice").query(
            "SELECT education, AVG(age) AS a FROM members GROUP BY education", epsilon=1.0
        )
        assert grouped.rows == []
        assert [a.ci95 for a in grouped.accuracy] == [None, None]
    finally:
        proxy.close()
