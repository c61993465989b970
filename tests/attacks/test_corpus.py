"""The adversarial corpus (``corpus/*.yaml``), run through the whole pipeline.

Each case names its category and the outcome it must have:

* ``rejected``: refused with ``sqlstate`` before any data is read. The engine is never
  called (``stage: bind`` cases are bound by the engine, a schema-only step, and never
  executed), nothing is charged, and the message holds no value found only in data.
* ``answered``: answered once, charged exactly the plan's cost, and every measurement of
  every group the engine returned got its own noise draw (counted at the samplers).
* ``neighbours``: run on D and on D' (D without the victim); both give the same kind of
  outcome (``expect``), the same columns, the same number of rows when ``same_rows``,
  and never a value listed in ``absent``.
* ``sequence``: ``steps`` run in order (or all at once with ``parallel``) on a fresh
  proxy, each answered, answered from the cache (``cached``, identical to ``same_as``)
  or rejected; ``charged`` is the total epsilon the sequence may cost.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from dpproxy.accounting.budget import EPSILON_UNIT, Cost
from dpproxy.api import Result
from dpproxy.errors import DPProxyError
from dpproxy.proxy import Proxy
from tests.attacks import dataset
from tests.instrument import Probe, instrument
from tests.synthetic import policies

CORPUS = Path(__file__).resolve().parent / "corpus"
CATEGORIES = {
    "row-level output": 10,
    "duckdb syntax": 10,
    "table functions": 10,
    "statements": 10,
    "multi-statement": 5,
    "comments and quoting": 10,
    "differencing and trackers": 5,
    "averaging by repetition": 3,
    "join amplification": 10,
    "subqueries and set operations": 10,
    "window functions": 5,
    "group by unit or high cardinality": 10,
    "having and limit oracles": 10,
    "unbounded aggregates": 10,
    "clamping bypass": 10,
    "null nan infinity": 10,
    "row-triggered errors": 10,
    "randomness": 5,
    "metadata": 10,
    "error messages": 10,
    "budget bypass": 10,
    "post-execution outcomes": 10,
}
OUTCOMES = {"rejected", "answered", "neighbours", "sequence"}
RELEASES = ("discrete_laplace", "discrete_gaussian", "public key list", "post-processing")
DOMAIN = "member"


def _load() -> list[dict[str, Any]]:
    cases = []
    for path in sorted(CORPUS.glob("*.yaml")):
        for index, case in enumerate(yaml.safe_load(path.read_text())):
            case["id"] = f"{path.stem}-{index:03d}"
            cases.append(case)
    return cases


CASES = _load()


def _ids(case: dict[str, Any]) -> str:
    text = case["sql"] if "sql" in case else case["steps"][0]["sql"]
    return f"{case['id']}:{text[:50]}"


def test_corpus_covers_every_category() -> None:
    assert len(CASES) >= 150
    counts = Counter(case["category"] for case in CASES)
    assert set(counts) == set(CATEGORIES), set(counts) ^ set(CATEGORIES)
    for category, minimum in CATEGORIES.items():
        assert counts[category] >= minimum, (category, counts[category])
    for case in CASES:
        assert case["outcome"] in OUTCOMES, case
        if case["outcome"] == "rejected":
            assert isinstance(case["sqlstate"], str) and len(case["sqlstate"]) == 5, case


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_attack(
    case: dict[str, Any],
    d_proxy: Proxy,
    d_prime_proxy: Proxy,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    corpus_data: tuple[Path, Path],
) -> None:
    outcome = case["outcome"]
    if outcome == "rejected":
        _rejected(d_proxy, case, instrument(d_proxy, monkeypatch))
    elif outcome == "answered":
        _answered(d_proxy, case, instrument(d_proxy, monkeypatch))
    elif outcome == "neighbours":
        _neighbours(d_proxy, d_prime_proxy, case, monkeypatch)
    else:
        config = {"cache": False, **case.get("config", {})}
        proxy = Proxy(policies(tmp_path / "policies", corpus_data[0], config=config))
        try:
            _sequence(proxy, case, instrument(proxy, monkeypatch))
        finally:
            proxy.close()


# -- outcomes ---------------------------------------------------------------------------


def _query(proxy: Proxy, case: dict[str, Any]) -> Result:
    session = proxy.session(case.get("analyst", "alice"))
    return session.query(case["sql"], epsilon=case.get("epsilon"))


def _rejected(proxy: Proxy, case: dict[str, Any], probe: Probe) -> None:
    analyst = case.get("analyst", "alice")
    before = _spent(proxy, analyst)
    with pytest.raises(DPProxyError) as error:
        _query(proxy, case)
    _expect_error(error.value, case)
    assert probe.rows_read == 0 and not probe.noised and not probe.draws
    if case.get("stage", "check") == "check":
        assert not probe.touched_engine, "a query refused by the checker reached the engine"
    else:
        assert probe.executed == 0, "a bind rejection executed the query"
    assert _spent(proxy, analyst) == before, "a refusal was charged"


def _answered(proxy: Proxy, case: dict[str, Any], probe: Probe) -> Result:
    analyst = case.get("analyst", "alice")
    before = _spent(proxy, analyst)
    result = _query(proxy, case)
    assert probe.executed == 1 and len(probe.noised) == 1
    _every_cell_noised(result, probe.noised[0])
    noised = probe.noised[0]
    plan = noised.plan
    cost = Cost.of(plan.epsilon, plan.delta, plan.rho)
    assert cost.epsilon >= 1, "an answer was free"
    assert _spent(proxy, analyst) == before + cost
    if "near" in case:
        value, tolerance = case["near"]
        assert abs(result.rows[0][0] - value) <= tolerance, result.rows
    return result


def _every_cell_noised(result: Result, noised: Any) -> None:
    plan = noised.plan
    assert plan.measurements
    noised.verify()
    for m in plan.measurements:
        assert m.mechanism.scale > 0 and m.sensitivity_l1 > 0
    groups = max(noised.groups, 1)
    assert len(result.rows) <= groups
    for column, accuracy in zip(result.columns, result.accuracy, strict=True):
        assert accuracy.column == column
        kind = accuracy.mechanism
        assert kind in RELEASES or kind.startswith("key released when"), kind
    for row in result.rows:
        for value in row:
            if isinstance(value, float):
                assert math.isfinite(value), "a released value is not finite"


def _neighbours(
    d: Proxy, d_prime: Proxy, case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes = []
    for proxy in (d, d_prime):
        with monkeypatch.context() as patch:
            probe = instrument(proxy, patch)
            try:
                result = _answered(proxy, case, probe)
            except DPProxyError as error:
                _no_secrets(error, case["sql"])
                outcomes.append(("rejected", error.sqlstate, error.message, None))
                assert probe.rows_read == 0, "an error after reading data"
            else:
                outcomes.append(("answered", result.columns, len(result.rows), result))
    (kind, first, count, result_d), (kind_prime, first_prime, count_prime, result_prime) = outcomes
    assert kind == kind_prime == case["expect"], outcomes
    assert first == first_prime
    if kind == "rejected" or case.get("same_rows"):
        assert count == count_prime
    for value in case.get("absent", []):
        for result in (result_d, result_prime):
            assert result is not None
            assert all(value not in row for row in result.rows), (value, result.rows)


def _sequence(proxy: Proxy, case: dict[str, Any], probe: Probe) -> None:
    analyst = case.get("analyst", "alice")
    steps = case["steps"]
    if case.get("parallel"):
        answered = _parallel(proxy, analyst, steps)
        assert answered == case["answered"]
    else:
        results: list[Result | None] = []
        for step in steps:
            results.append(_step(proxy, analyst, step, results))
    spent = _spent(proxy, analyst)
    assert spent.epsilon == round(case["charged"] * EPSILON_UNIT), spent
    # every step the engine ran was answered from what it read (a refusal reads nothing)
    if not case.get("parallel"):
        answered = sum(s["outcome"] == "answered" for s in steps)
        assert probe.executed == answered, (probe.executed, answered)


def _step(
    proxy: Proxy, analyst: str, step: dict[str, Any], results: list[Result | None]
) -> Result | None:
    session = proxy.session(analyst)
    if step["outcome"] == "rejected":
        before = _spent(proxy, analyst)
        with pytest.raises(DPProxyError) as error:
            session.query(step["sql"], epsilon=step.get("epsilon"))
        _expect_error(error.value, step)
        assert _spent(proxy, analyst) == before
        return None
    result = session.query(step["sql"], epsilon=step.get("epsilon"))
    assert result.cache_hit == (step["outcome"] == "cached")
    if "same_as" in step:
        earlier = results[step["same_as"]]
        assert earlier is not None and result.rows == earlier.rows
    if "near" in step:
        value, tolerance = step["near"]
        assert abs(result.rows[0][0] - value) <= tolerance, result.rows
    return result


def _parallel(proxy: Proxy, analyst: str, steps: list[dict[str, Any]]) -> int:
    barrier = threading.Barrier(len(steps))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(step: dict[str, Any]) -> None:
        session = proxy.session(analyst)
        barrier.wait()
        try:
            session.query(step["sql"], epsilon=step.get("epsilon"))
            outcome = "answered"
        except DPProxyError as error:
            outcome = error.sqlstate
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(outcomes) <= {"answered", "53P01"}, outcomes
    return outcomes.count("answered")


# -- helpers ----------------------------------------------------------------------------


def _expect_error(error: DPProxyError, case: dict[str, Any]) -> None:
    text = error.message + (error.detail or "")
    assert error.sqlstate == case["sqlstate"], text
    assert case.get("message", "") in text
    _no_secrets(error, case.get("sql", ""))


def _no_secrets(error: DPProxyError, sql: str) -> None:
    text = error.message + (error.detail or "")
    for secret in dataset.SECRETS:
        if secret not in sql:
            assert secret not in text, f"the message shows a data value: {text}"


def _spent(proxy: Proxy, analyst: str) -> Cost:
    return proxy.ledger.spent(DOMAIN, analyst)


def test_the_runner_catches_an_unnoised_measurement(
    d_proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same checks, against a noise stage that forgets the last measurement."""
    from dpproxy import pipeline, postprocess

    def leaky(plan: Any, rows: Any, *args: Any) -> Any:
        groups = postprocess.add_noise(plan, rows, *args)
        exact = [postprocess._Group(g.keys, (*g.noisy[:-1], int(r[-1])))
                 for g, r in zip(groups, rows, strict=True)]  # fmt: skip
        return exact

    monkeypatch.setattr(pipeline, "add_noise", leaky)
    probe = instrument(d_proxy, monkeypatch)
    case = {"sql": "SELECT education, COUNT(*), SUM(age) FROM members GROUP BY 1"}
    result = _query(d_proxy, case)
    with pytest.raises(AssertionError, match="escaped its noise"):
        _every_cell_noised(result, probe.noised[0])
