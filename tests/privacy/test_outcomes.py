"""Outcomes, not only values: on D and D' the *class* of outcome (which error, or an
answer with which columns, how many rows and which accuracy figures) must be as
indistinguishable as epsilon says.

An exception after the engine ran on a row that is never released (a key that fails to
convert, a value that overflows when encoded) once made "error or answer" an exact
oracle on one member: no amount of noise on the values helps when the outcome itself
is un-noised. Each query below puts such a value on the victim's row only. The outcome
classes of many runs on D and on D' are compared event by event with Clopper-Pearson
intervals (``loss.py``); ``test_a_data_dependent_failure_is_caught`` shows the same test
fails against a pipeline that errs whenever the victim's row is among the candidates.
"""

from __future__ import annotations

from typing import Any

import pytest

from dpproxy.engine import PreparedQuery
from dpproxy.errors import DPProxyError, ExecutionFailed
from dpproxy.proxy import Proxy
from tests.privacy.conftest import ANALYSTS, CONFIG
from tests.privacy.loss import ALPHA, Bound, epsilon_lower_bound

RUNS = 120
EPSILON = 1.0
DELTA = CONFIG["queries"]["delta"]  # each query with partition selection spends it
QUERIES = {
    "date past 9999": (
        "SELECT CASE WHEN age = 77 THEN DATE '9999-12-31' + 400 ELSE DATE '2020-01-01' END "
        "AS d, COUNT(*) FROM members GROUP BY 1"
    ),
    "timestamp overflow": (
        "SELECT CASE WHEN age = 77 THEN TIMESTAMP '2020-01-01 00:00:00' + INTERVAL '300000' "
        "YEAR ELSE TIMESTAMP '2020-01-01 00:00:00' END AS t, COUNT(*) FROM members GROUP BY 1"
    ),
    "interval key": (
        "SELECT CASE WHEN age = 77 THEN INTERVAL '3000000' YEAR END AS k, COUNT(*) "
        "FROM members GROUP BY 1"
    ),
    "integer past BIGINT": (
        "SELECT CASE WHEN age = 77 THEN 9223372036854775807 + age ELSE 1 END AS k, COUNT(*) "
        "FROM members GROUP BY 1"
    ),
    "NaN key": (
        "SELECT CASE WHEN age = 77 THEN CAST('NaN' AS DOUBLE) ELSE 1.0 END AS k, COUNT(*) "
        "FROM members GROUP BY 1"
    ),
    "SMALLINT overflow": (
        "SELECT education, CAST(SUM(annual_spend) AS SMALLINT) AS s, AVG(age) "
        "FROM members GROUP BY education"
    ),
}


def outcome_class(proxy: Proxy, run: int, sql: str) -> str:
    """What an observer sees of one run, values aside."""
    session = proxy.session(ANALYSTS[run % len(ANALYSTS)])
    try:
        result = session.query(sql, epsilon=EPSILON)
    except DPProxyError as error:
        return f"error {error.sqlstate}: {error.message}"
    nulls = sorted(tuple(v is None for v in row) for row in result.rows)
    figures = tuple(a.ci95 is None for a in result.accuracy)
    return f"answer {result.columns} rows {len(result.rows)} nulls {nulls} figures {figures}"


def outcome_bound(pair: tuple[Proxy, Proxy], sql: str, alpha: float = ALPHA) -> Bound:
    d, d_prime = ([outcome_class(p, i, sql) for i in range(RUNS)] for p in pair)
    classes = sorted(set(d) | set(d_prime))
    best = Bound(0.0, "none")
    for c in classes:  # Bonferroni over the classes: each is one pre-registered event
        found = epsilon_lower_bound(
            [float(o == c) for o in d],
            [float(o == c) for o in d_prime],
            [1.0],
            delta=DELTA,
            alpha=alpha / len(classes),
        )
        if found.epsilon > best.epsilon:
            best = Bound(found.epsilon, f"{c!r}: {found.event}")
    return best


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(QUERIES))
def test_outcome_classes_are_indistinguishable(name: str, neighbours: tuple[Proxy, Proxy]) -> None:
    found = outcome_bound(neighbours, QUERIES[name], ALPHA / len(QUERIES))
    assert found.epsilon <= EPSILON, found


@pytest.mark.slow
def test_a_data_dependent_failure_is_caught(
    neighbours: tuple[Proxy, Proxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness has teeth: a pipeline that fails whenever the engine returns the
    victim's (unreleased) group, as the key conversion once did, is found out."""
    execute = PreparedQuery.execute

    def oracle(self: PreparedQuery, timeout: float | None = None) -> list[tuple[Any, ...]]:
        rows = execute(self, timeout)
        if any(row[0] is None for row in rows):  # the victim's out-of-range date key
            raise ExecutionFailed()
        return rows

    monkeypatch.setattr(PreparedQuery, "execute", oracle)
    found = outcome_bound(neighbours, QUERIES["date past 9999"])
    assert found.epsilon > EPSILON, found
