"""The six stages in order: parse, check, rewrite, execute, noise, account.

``run`` is the whole life of a query; read it top to bottom. The budget is reserved
before execution and committed before anything is returned; a failure after the
reservation keeps the charge, because the failure itself may depend on data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from dpproxy import noise
from dpproxy.accounting import Cost, OverBudget, Reservation, Scope
from dpproxy.accounting.budget import Limit, exact
from dpproxy.check import CheckedQuery, check
from dpproxy.engine import BindError
from dpproxy.errors import (
    BudgetExhausted,
    DPProxyError,
    ExecutionFailed,
    InternalError,
    InvalidParameter,
    QueryLimitExceeded,
    QueryRejected,
    Violation,
)
from dpproxy.parse import parse
from dpproxy.plan import QueryPlan, make_plan
from dpproxy.postprocess import ColumnAccuracy, Released, add_noise, release
from dpproxy.rewrite import rewrite

if TYPE_CHECKING:
    from dpproxy.api import Proxy


@dataclass(frozen=True)
class Outcome:
    """A released answer with what it cost."""

    released: Released
    plan: QueryPlan
    cost: Cost
    spent_before: Cost
    scope: Scope


def run(proxy: Proxy, analyst: str, sql: str, epsilon: float | None) -> Outcome:
    # 1. parse: text to AST, or a rejection with a position
    limits = proxy.policies.config.queries
    select = parse(sql, max_length=limits.max_query_length)
    # 2. check: against the policy; all violations at once; nothing touched yet
    query = check(select, proxy.catalog)
    plan = plan_query(proxy, query, epsilon)
    # 3. rewrite: the bounded statement; the analyst's SQL never reaches the engine
    statement = rewrite(plan, noise.random_bits(62))
    try:
        proxy.engine.check_binds(statement)
    except BindError as exc:  # a type error decided by the schema alone
        raise QueryRejected([Violation("42804", "query", f"type error: {exc}")]) from None
    cost = Cost.of(plan.epsilon, plan.delta, plan.rho)
    scopes = budget_scopes(proxy, analyst, query.domain or "")
    # 6a. account: reserve the charge before any data is read
    reservation, spent_before = reserve(proxy, analyst, query, cost, scopes)
    try:
        # 4. execute: on the locked engine, with a time limit
        rows = proxy.engine.execute(statement, timeout=limits.timeout_seconds)
        # 5. noise: every measurement of every group, then post-processing only
        released = release(plan, add_noise(plan, rows))
        if len(released.rows) * max(len(released.columns), 1) > limits.max_output_cells:
            raise QueryLimitExceeded(
                f"the answer has more than {limits.max_output_cells} "
                "cells; add a LIMIT or coarser keys"
            )
    except DPProxyError:
        proxy.ledger.commit(reservation)
        raise
    except Exception:  # noqa: BLE001 - any failure after reading data keeps its charge
        proxy.ledger.commit(reservation)
        raise ExecutionFailed() from None
    # 6b. account: the charge is final before the answer leaves
    plan.verify()
    proxy.ledger.commit(reservation)
    return Outcome(released, plan, cost, spent_before, scopes[0])


def plan_query(proxy: Proxy, query: CheckedQuery, epsilon: float | None) -> QueryPlan:
    config = proxy.policies.config
    eps = _epsilon(epsilon, config.queries.default_epsilon, config.queries.max_epsilon)
    return make_plan(query, eps, exact(config.queries.delta), config.accounting)


def _epsilon(requested: float | None, default: float, maximum: float) -> Fraction:
    value = default if requested is None else requested
    try:
        eps = exact(value)
    except (TypeError, ValueError):
        raise InvalidParameter(f"epsilon must be a positive number, got {value!r}") from None
    if eps <= 0:
        raise InvalidParameter(f"epsilon must be positive, got {float(eps):g}")
    if eps > exact(maximum):
        raise QueryLimitExceeded(
            f"epsilon {float(eps):g} exceeds the per-query maximum {maximum:g}"
        )
    return eps


def budget_scopes(proxy: Proxy, analyst: str, domain: str) -> list[Scope]:
    """The analyst's budget in ``domain`` first, then the domain's global cap if any."""
    config = proxy.policies.config
    policy = config.analysts.get(analyst)
    if policy is None:
        raise InvalidParameter(f"unknown analyst '{analyst}'")
    budget = policy.domains.get(domain, policy.budget)
    scopes = [
        Scope(
            f"analyst '{analyst}' in domain '{domain}'",
            Limit.of(budget, config.accounting),
            analyst,
        )
    ]
    cap = config.global_budgets.get(domain)
    if cap is not None:
        scopes.append(
            Scope(f"domain '{domain}' (all analysts)", Limit.of(cap, config.accounting), None)
        )
    return scopes


def reserve(
    proxy: Proxy, analyst: str, query: CheckedQuery, cost: Cost, scopes: list[Scope]
) -> tuple[Reservation, Cost]:
    domain = query.domain or ""
    since = proxy.period_start()
    spent_before = proxy.ledger.spent(domain, analyst, since)
    try:
        reservation = proxy.ledger.reserve(analyst, domain, cost, scopes, since, query.canonical())
    except OverBudget as over:
        raise _exhausted(over, cost) from None
    return reservation, spent_before


def _exhausted(over: OverBudget, cost: Cost) -> BudgetExhausted:
    limit = over.scope.limit
    remaining_eps, remaining_delta = limit.remaining(over.spent)
    if limit.accounting.value == "pure" and over.spent.epsilon + cost.epsilon > limit.epsilon:
        return BudgetExhausted(
            "epsilon", Fraction(cost.epsilon, 10**12), remaining_eps, over.scope.name
        )
    if over.spent.delta + cost.delta > limit.delta:
        return BudgetExhausted(
            "delta", Fraction(cost.delta, 10**18), remaining_delta, over.scope.name
        )
    requested = Fraction(cost.rho, 10**12)
    return BudgetExhausted(
        "rho", requested, Fraction(max(limit.rho - over.spent.rho, 0), 10**12), over.scope.name
    )


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
    if analyst not in proxy.policies.config.analysts:
        raise InvalidParameter(f"unknown analyst '{analyst}'")
    select = parse(sql, max_length=proxy.policies.config.queries.max_query_length)
    query = check(select, proxy.catalog)
    plan = plan_query(proxy, query, epsilon)
    accuracy = release(plan, []).accuracy  # data-independent figures only
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
    if not plan.measurements:
        raise InternalError("a plan without measurements")
    return Explanation(
        float(plan.requested_epsilon),
        float(plan.delta),
        float(plan.rho),
        accuracy,
        measurements,
        plan.selection.minimum if plan.selection else None,
        rewrite(plan, 0),
    )


def now() -> float:
    return time.time()
