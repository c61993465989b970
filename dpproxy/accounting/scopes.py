"""Which budgets a query is charged against, and what is said when one runs out.

An analyst has a budget per privacy domain (``domains`` in the policy, else ``budget``);
a domain may also have a global cap shared by all analysts. Both are checked, in that
order, in the same ledger transaction.
"""

from __future__ import annotations

from dpproxy.accounting.budget import Cost, Limit
from dpproxy.accounting.ledger import OverBudget, Scope
from dpproxy.errors import BudgetExhausted, InvalidParameter
from dpproxy.policy.model import Config


def budget_scopes(config: Config, analyst: str, domain: str | None) -> list[Scope]:
    """The analyst's budget in ``domain`` first, then the domain's global cap if any."""
    policy = config.analysts.get(analyst)
    if policy is None:
        raise InvalidParameter(f"unknown analyst '{analyst}'")
    name = domain or ""
    budget = policy.domains.get(name, policy.budget)
    scopes = [
        Scope(
            f"analyst '{analyst}' in domain '{name}'", Limit.of(budget, config.accounting), analyst
        )
    ]
    cap = config.global_budgets.get(name)
    if cap is not None:
        scopes.append(
            Scope(f"domain '{name}' (all analysts)", Limit.of(cap, config.accounting), None)
        )
    return scopes


def exhausted(over: OverBudget, cost: Cost) -> BudgetExhausted:
    """The error for a reservation the ledger refused: which amount ran out, and where."""
    limit = over.scope.limit
    remaining_eps, remaining_delta = limit.remaining(over.spent)
    if limit.accounting.value == "pure" and over.spent.epsilon + cost.epsilon > limit.epsilon:
        return BudgetExhausted("epsilon", cost.epsilon_value, remaining_eps, over.scope.name)
    if over.spent.delta + cost.delta > limit.delta:
        return BudgetExhausted("delta", cost.delta_value, remaining_delta, over.scope.name)
    left = Cost(0, 0, max(limit.rho - over.spent.rho, 0))
    return BudgetExhausted("rho", cost.rho_value, left.rho_value, over.scope.name)


def warnings(
    limit: Limit, before: Cost, after: Cost, thresholds: tuple[float, ...], scope: str
) -> tuple[str, ...]:
    """One warning per threshold (a fraction of the epsilon budget) this charge crossed."""
    total = float(limit.budget.epsilon)
    was = float(limit.spent_epsilon(before)) / total
    now = float(limit.spent_epsilon(after)) / total
    crossed = [t for t in thresholds if was < t <= now]
    return tuple(f"{int(t * 100)}% of the epsilon budget of {scope} is spent" for t in crossed)


__all__ = ["budget_scopes", "exhausted", "warnings"]
