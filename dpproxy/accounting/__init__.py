"""Stage 6, account: budgets in exact units and the durable ledger."""

from dpproxy.accounting.budget import Cost, Limit, exact
from dpproxy.accounting.ledger import Ledger, OverBudget, Reservation, Scope

__all__ = ["Cost", "Ledger", "Limit", "OverBudget", "Reservation", "Scope", "exact"]
