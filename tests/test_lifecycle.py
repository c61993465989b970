"""The query lifecycle: from the reservation on, every path out is committed and audited.

Each post-execution step is made to fail in turn (the engine, noise, post-processing,
the cache payload, the ledger's commit, with an ``Exception`` or a ``BaseException``):
the charge must be final, the audit trail must hold a failed entry for it and verify,
and the analyst must see the one generic error. A refusal decided before the engine
(a type error found while binding) reserves nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from dpproxy import lifecycle, pipeline
from dpproxy.accounting import Ledger
from dpproxy.accounting.budget import Cost
from dpproxy.engine import PreparedQuery
from dpproxy.errors import ExecutionFailed, InternalError, QueryRejected
from dpproxy.proxy import Proxy
from tests.instrument import instrument

SQL = "SELECT education, COUNT(*), AVG(age) FROM members GROUP BY education"
EPSILON = 0.25
CHARGED = 250_000_000_000


class Boom(Exception):
    """A failure carrying data in its message, as a real one might."""

    def __init__(self) -> None:
        super().__init__("value 'Solitude' of member 999001")


def _raise(error: BaseException) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    return fail


FAILURES: dict[str, tuple[Any, str]] = {
    "engine": (PreparedQuery, "execute"),
    "noise": (pipeline, "add_noise"),
    "release": (pipeline, "release"),
    "cache payload": (pipeline, "answer_payload"),
    "size check": (pipeline, "_check_released_size"),
}


def _audit(proxy: Proxy) -> list[tuple[str, str | None, int | None]]:
    db = sqlite3.connect(proxy.state_dir / "ledger.sqlite")
    try:
        return list(db.execute("SELECT decision, sqlstate, charge_id FROM audit ORDER BY seq"))
    finally:
        db.close()


def _statuses(proxy: Proxy) -> list[str]:
    db = sqlite3.connect(proxy.state_dir / "ledger.sqlite")
    try:
        return [s for (s,) in db.execute("SELECT status FROM charges ORDER BY id")]
    finally:
        db.close()


def _charged_and_audited(proxy: Proxy, sqlstate: str) -> None:
    assert proxy.ledger.spent("member", "alice").epsilon == CHARGED
    assert _statuses(proxy) == ["committed"]
    decision, state, charge = _audit(proxy)[-1]
    assert (decision, state) == ("failed", sqlstate) and charge is not None
    verification = proxy.ledger.verify_audit()
    assert verification.ok, verification.problems


@pytest.mark.parametrize("where", sorted(FAILURES))
def test_a_failure_after_the_reservation_is_charged_generic_and_audited(
    where: str, fresh: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, name = FAILURES[where]
    monkeypatch.setattr(target, name, _raise(Boom()))
    with pytest.raises(ExecutionFailed) as error:
        fresh.session("alice").query(SQL, epsilon=EPSILON)
    assert error.value.message == "query execution failed; its privacy budget has been charged"
    assert error.value.__cause__ is None and "Solitude" not in str(error.value)
    _charged_and_audited(fresh, "XX000")


@pytest.mark.parametrize("where", ["engine", "release", "cache payload"])
def test_a_base_exception_after_the_reservation_is_charged_and_propagates(
    where: str, fresh: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, name = FAILURES[where]
    monkeypatch.setattr(target, name, _raise(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        fresh.session("alice").query(SQL, epsilon=EPSILON)
    _charged_and_audited(fresh, "XX000")


def test_a_failed_commit_of_the_answer_is_committed_as_failed(
    fresh: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer's commit (with its cached payload) fails; nothing is released, and the
    charge is committed as failed instead."""
    commit = Ledger.commit
    calls = []

    def flaky(self: Ledger, reservation: Any, entry: Any, cached: Any = None) -> None:
        calls.append(cached)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        commit(self, reservation, entry, cached)

    monkeypatch.setattr(Ledger, "commit", flaky)
    with pytest.raises(InternalError, match="nothing was released"):
        fresh.session("alice").query(SQL, epsilon=EPSILON)
    assert calls[0] is not None and calls[1] is None  # the second commit carries no answer
    _charged_and_audited(fresh, "XX000")
    assert not fresh.session("alice").query(SQL, epsilon=EPSILON).cache_hit


def test_a_charge_no_commit_could_record_stays_spent_and_recovery_settles_it(
    fresh: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Ledger, "commit", _raise(sqlite3.OperationalError("disk full")))
    with pytest.raises(InternalError):
        fresh.session("alice").query(SQL, epsilon=EPSILON)
    monkeypatch.undo()
    assert _statuses(fresh) == ["reserved"]
    assert fresh.ledger.spent("member", "alice").epsilon == CHARGED  # reserved counts
    # the process "dies": its owner token names a process that no longer exists
    db = sqlite3.connect(fresh.state_dir / "ledger.sqlite")
    with db:
        host, pid, ticks = db.execute("SELECT owner FROM charges").fetchone()[0].split("/")
        db.execute("UPDATE charges SET owner = ?", (f"{host}/{pid}/{int(ticks) + 1}",))
    db.close()
    recovered = Ledger(fresh.state_dir / "ledger.sqlite")
    try:
        assert recovered.spent("member", "alice").epsilon == CHARGED, "the charge was returned"
        assert _statuses(fresh) == ["committed"]
        verification = recovered.verify_audit()
        assert verification.ok, verification.problems
    finally:
        recovered.close()
    assert _audit(fresh)[-1][:2] == ("failed", "XX000")


def test_a_type_error_is_refused_before_any_reservation(
    fresh: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = instrument(fresh, monkeypatch)
    with pytest.raises(QueryRejected) as error:
        fresh.session("alice").query("SELECT COUNT(*) FROM members WHERE lower(age) = 'x'")
    assert error.value.sqlstate == "42804"
    assert probe.bound == 1 and probe.executed == 0
    assert _statuses(fresh) == []  # nothing reserved, so nothing to refund
    assert _audit(fresh)[-1][:2] == ("rejected", "42804")


def test_an_answer_is_committed_before_it_is_returned(
    fresh: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    answer = lifecycle.Charge.answer

    def observed(self: lifecycle.Charge, cached: Any) -> None:
        answer(self, cached)
        seen.append(_statuses(fresh))

    monkeypatch.setattr(lifecycle.Charge, "answer", observed)
    result = fresh.session("alice").query(SQL, epsilon=EPSILON)
    assert seen == [["committed"]] and result.epsilon == EPSILON
    assert _audit(fresh)[-1][0] == "accepted"


def test_the_state_machine_allows_one_outcome(fresh: Proxy) -> None:
    cost = Cost.of(*(pipeline.exact(v) for v in (EPSILON, 0, 0)))
    scopes = pipeline.budget_scopes(fresh.policies.config, "alice", "member")
    reservation = fresh.ledger.reserve("alice", "member", cost, scopes, None, "q")
    entry = pipeline._entry("alice", None, pipeline.Decision.ACCEPTED)
    with lifecycle.Charge(fresh.ledger, reservation, entry) as charge:
        charge.answer(None)
        with pytest.raises(InternalError, match="already answered"):
            charge.fail("XX000")
    assert charge.state is lifecycle.State.ANSWERED
    second = fresh.ledger.reserve("alice", "member", cost, scopes, None, "q")
    # a block that neither answered nor failed is a bug, and still committed
    with (
        pytest.raises(InternalError, match="without an outcome"),
        lifecycle.Charge(fresh.ledger, second, entry),
    ):
        pass
    assert _statuses(fresh) == ["committed", "committed"]


def test_a_bug_after_execution_is_logged_without_its_message(
    fresh: Proxy, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pipeline, "release", _raise(Boom()))
    with pytest.raises(ExecutionFailed):
        fresh.session("alice").query(SQL, epsilon=EPSILON)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "bug after execution: Boom" in logged and "Solitude" not in logged
