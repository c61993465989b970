"""The six stages in order: parse, check, rewrite, execute, noise, account.

``run`` is the whole life of a query; read it top to bottom. Everything up to binding
the rewritten statement (which needs the schema, never a row) is decided by the query
text and the policy: a refusal there costs nothing and is audited as rejected. Then the
budget is reserved, and from that moment the charge is final on every path out
(``lifecycle.Charge``): an answer is committed, with its audit entry and its cached
copy, before it is returned; anything else is committed as failed, and an unexpected
exception after execution is the one generic error (``lifecycle.one_generic_error``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from dpproxy import noise
from dpproxy.accounting import Cost, OverBudget, Reservation, Scope
from dpproxy.accounting.audit import AuditEntry, Decision
from dpproxy.accounting.budget import ZERO, exact
from dpproxy.accounting.cache import answer_payload, cache_key, replayed
from dpproxy.accounting.scopes import budget_scopes, exhausted
from dpproxy.check import CheckedQuery, check
from dpproxy.engine import BindError, Prepared
from dpproxy.errors import (
    DPProxyError,
    InternalError,
    InvalidParameter,
    QueryLimitExceeded,
    QueryRejected,
    Violation,
)
from dpproxy.lifecycle import Charge, one_generic_error
from dpproxy.parse import parse
from dpproxy.plan import QueryPlan, make_plan
from dpproxy.postprocess import add_noise, expected_accuracy, release
from dpproxy.released import ColumnAccuracy, Released
from dpproxy.rewrite import rewrite
from dpproxy.sqlstate import SQLState

if TYPE_CHECKING:
    from dpproxy.proxy import Proxy


@dataclass(frozen=True)
class Outcome:
    """A released answer with what it cost."""

    released: Released
    epsilon: Fraction  # charged now (0 for a cache hit)
    delta: Fraction
    rho: Fraction
    cost: Cost
    spent_before: Cost
    scope: Scope
    cache_hit: bool


def run(proxy: Proxy, analyst: str, sql: str, epsilon: float | None) -> Outcome:
    limits = proxy.policies.config.queries
    scopes = budget_scopes(proxy.policies.config, analyst, None)  # the analyst must exist
    query: CheckedQuery | None = None
    try:
        # 1. parse: text to AST, or a rejection with a position
        select = parse(sql, max_length=limits.max_query_length)
        # 2. check: against the policy, all violations at once; no data touched
        query = check(select, proxy.catalog)
        scopes = budget_scopes(proxy.policies.config, analyst, query.domain)
        plan = plan_query(proxy, query, epsilon)
        plan.verify()  # the loss recomputed from the measurements, before any charge
        _check_certain_size(plan, limits.max_output_cells)
        # the sources as they are now (a changed file is checked against the policy
        # again here, and refused before any charge if it no longer fits)
        version = proxy.engine.data_version
        key = _cache_key(proxy, analyst, query, plan, version)
        if key is not None and (hit := proxy.ledger.cached(key)) is not None:
            return _replay(proxy, analyst, query, hit, scopes[0])
        # 3. rewrite: the bounded statement (the analyst's SQL never reaches the engine),
        # bound by the engine against the schema alone: a type error is a refusal
        statement = _bind(proxy, rewrite(plan, noise.random_bits(62), proxy.engine.dialect))
    except DPProxyError as exc:
        _audit_refusal(proxy, analyst, query, sql, exc)
        raise
    except Exception:  # noqa: BLE001 - a bug before execution refuses the query, fail closed
        _audit_refusal(proxy, analyst, query, sql, InternalError("checking failed"))
        raise InternalError("internal error while checking the query; it was not run") from None
    with statement:
        # 6a. account: reserve the charge; from here on it is final on every path out
        cost = Cost.of(plan.epsilon, plan.delta, plan.rho)
        try:
            reservation, spent_before = _reserve(proxy, analyst, query, cost, scopes)
        except DPProxyError as exc:
            _audit_refusal(proxy, analyst, query, sql, exc)
            raise
        with Charge(proxy.ledger, reservation, _entry(analyst, query, Decision.ACCEPTED)) as charge:
            with one_generic_error():
                # 4. execute: on the locked engine, with a time limit
                deadline = time.monotonic() + limits.timeout_seconds
                rows = statement.execute(timeout=limits.timeout_seconds)
                # 5. noise: every measurement of every group (within the same time
                # limit), then post-processing of noisy values only
                released = release(plan, add_noise(plan, rows, deadline))
                _check_released_size(released, limits.max_output_cells)
                cached = (
                    None if key is None else (key, answer_payload(released, plan.requested_epsilon))
                )
            # 6b. account: the charge, its audit entry and cached answer are final first
            charge.answer(cached)
    return Outcome(
        released,
        plan.requested_epsilon,
        plan.delta,
        plan.rho,
        cost,
        spent_before,
        scopes[0],
        cache_hit=False,
    )


def _bind(proxy: Proxy, statement: str) -> Prepared:
    try:
        return proxy.engine.prepare(statement)
    except BindError as exc:
        violation = Violation(SQLState.DATATYPE_MISMATCH, "query", f"type error: {exc}")
        raise QueryRejected([violation]) from None


def _check_released_size(released: Released, max_cells: int) -> None:
    """The answer's size limit, decided on the released (noisy) rows only."""
    if len(released.rows) * max(len(released.columns), 1) > max_cells:
        raise QueryLimitExceeded(
            f"the answer has more than {max_cells} cells; add a LIMIT or use coarser keys"
        )


def plan_query(proxy: Proxy, query: CheckedQuery, epsilon: float | None) -> QueryPlan:
    config = proxy.policies.config
    limits = config.queries
    eps = _epsilon(epsilon, limits.default_epsilon, limits.max_epsilon, limits.min_epsilon)
    return make_plan(query, eps, exact(config.queries.delta), config.accounting)


def _epsilon(requested: float | None, default: float, maximum: float, minimum: float) -> Fraction:
    value = default if requested is None else requested
    try:
        eps = exact(value)
    except (TypeError, ValueError):
        raise InvalidParameter(f"epsilon must be a positive number, got {value!r}") from None
    if eps <= 0:
        raise InvalidParameter(f"epsilon must be positive, got {float(eps):g}")
    if eps < exact(minimum):
        raise QueryLimitExceeded(
            f"epsilon {float(eps):g} is below the per-query minimum {minimum:g}"
        )
    if eps > exact(maximum):
        raise QueryLimitExceeded(
            f"epsilon {float(eps):g} exceeds the per-query maximum {maximum:g}"
        )
    return eps


def _check_certain_size(plan: QueryPlan, max_cells: int) -> None:
    """Refuse, before any charge, an answer whose size is known to exceed the limit: every
    combination of public keys is released unless HAVING or a minimum group size drops it."""
    query = plan.query
    if not query.keys or not plan.public_keys or query.having is not None:
        return
    if plan.selection is not None:  # groups may be suppressed by their noisy size
        return
    rows = 1
    for key in query.keys:
        rows *= len(key.public_values or ())
    rows = max(rows - query.offset, 0)
    if query.limit is not None:
        rows = min(rows, query.limit)
    if rows * max(len(query.outputs), 1) > max_cells:
        raise QueryLimitExceeded(
            f"the answer would have {rows * len(query.outputs)} cells; the limit is {max_cells}: "
            "add a LIMIT or use coarser keys"
        )


def _reserve(
    proxy: Proxy, analyst: str, query: CheckedQuery, cost: Cost, scopes: list[Scope]
) -> tuple[Reservation, Cost]:
    domain = query.domain or ""
    since = proxy.period_start()
    spent_before = proxy.ledger.spent(domain, analyst, since)
    try:
        reservation = proxy.ledger.reserve(analyst, domain, cost, scopes, since, query.canonical())
    except OverBudget as over:
        raise exhausted(over, cost) from None
    return reservation, spent_before


# -- cache and audit --------------------------------------------------------------------


def _cache_key(
    proxy: Proxy, analyst: str, query: CheckedQuery, plan: QueryPlan, data_version: str
) -> str | None:
    if not proxy.policies.config.cache:
        return None
    return cache_key(
        analyst,
        query.canonical(),
        proxy.policies.version,
        data_version,
        str(plan.requested_epsilon),
    )


def _replay(proxy: Proxy, analyst: str, query: CheckedQuery, payload: str, scope: Scope) -> Outcome:
    released = replayed(payload)
    proxy.ledger.record(_entry(analyst, query, Decision.CACHED, cache_hit=True))
    spent = proxy.ledger.spent(query.domain or "", analyst, proxy.period_start())
    zero = Fraction(0)
    return Outcome(released, zero, zero, zero, ZERO, spent, scope, cache_hit=True)


def _entry(
    analyst: str,
    query: CheckedQuery | None,
    decision: Decision,
    *,
    sql: str = "",
    sqlstate: str | None = None,
    cache_hit: bool = False,
) -> AuditEntry:
    text = query.canonical() if query is not None else sql
    domain = (query.domain or "") if query is not None else ""
    return AuditEntry(time.time(), analyst, domain, text, decision, sqlstate, cache_hit=cache_hit)


def _audit_refusal(
    proxy: Proxy, analyst: str, query: CheckedQuery | None, sql: str, exc: DPProxyError
) -> None:
    proxy.ledger.record(_entry(analyst, query, Decision.REJECTED, sql=sql, sqlstate=exc.sqlstate))


# -- dry run ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    """A dry run: the price and the expected error, with no data touched."""

    epsilon: float
    delta: float
    rho: float
    accuracy: tuple[ColumnAccuracy, ...]
    measurements: tuple[dict[str, Any], ...]
    threshold: int | None
    rewritten_sql: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "rho": self.rho,
            "accuracy": [a.to_dict() for a in self.accuracy],
            "measurements": list(self.measurements),
            "threshold": self.threshold,
            "rewritten_sql": self.rewritten_sql,
        }


def explain(proxy: Proxy, analyst: str, sql: str, epsilon: float | None) -> Explanation:
    """Price ``sql`` without charging and without touching data."""
    budget_scopes(proxy.policies.config, analyst, None)
    select = parse(sql, max_length=proxy.policies.config.queries.max_query_length)
    query = check(select, proxy.catalog)
    plan = plan_query(proxy, query, epsilon)
    statement = rewrite(plan, 0, proxy.engine.dialect)
    _bind(proxy, statement).close()  # type errors show up in a dry run too
    accuracy = expected_accuracy(plan)  # data-independent figures only
    measurements = tuple(
        {
            "measurement": m.label,
            "mechanism": m.mechanism.name,
            "sensitivity": float(m.sensitivity_l1 * m.unit),
            "epsilon": float(m.epsilon),
            "rho": float(m.rho),
        }
        for m in plan.measurements
    )
    proxy.ledger.record(_entry(analyst, query, Decision.EXPLAINED))
    return Explanation(
        float(plan.requested_epsilon),
        float(plan.delta),
        float(plan.rho),
        accuracy,
        measurements,
        plan.selection.minimum if plan.selection else None,
        statement,
    )
