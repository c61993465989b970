"""The shared context of every session: policies, the locked engine, catalog, ledger.

``Proxy`` is what the pipeline, the CLI, the wire server and the API share; it holds
no per-analyst state (``api.Session`` is one analyst's view of it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dpproxy.accounting import Ledger
from dpproxy.accounting.budget import Cost, Limit, period_start
from dpproxy.accounting.scopes import budget_scopes
from dpproxy.engine import DuckDBEngine, Engine, EngineSettings
from dpproxy.errors import InvalidParameter
from dpproxy.policy import Policies, load_policies
from dpproxy.policy.catalog import Catalog
from dpproxy.policy.model import EngineKind

if TYPE_CHECKING:
    from dpproxy.api import Session


@dataclass(frozen=True)
class BudgetLine:
    analyst: str
    domain: str
    epsilon_budget: float
    delta_budget: float
    epsilon_spent: float
    delta_spent: float
    epsilon_remaining: float
    delta_remaining: float


class Proxy:
    """Policies, the locked engine and the ledger, shared by every session."""

    def __init__(self, policies: str | Path, *, state_dir: str | Path | None = None) -> None:
        self.policies: Policies = load_policies(policies)
        config = self.policies.config
        self.state_dir = Path(state_dir) if state_dir is not None else self.policies.state_dir
        self.engine: Engine
        if config.engine.kind is EngineKind.SPARK:
            from dpproxy.engine.spark import SparkEngine  # pyspark is an optional extra

            self.engine = SparkEngine(self.policies, config.engine)
        else:
            self.engine = DuckDBEngine(
                self.policies,
                EngineSettings(
                    threads=config.engine_threads,
                    memory_limit=config.engine_memory_limit,
                    temp_directory=self.state_dir / "duckdb_tmp",
                ),
            )
        self.catalog = Catalog.build(self.policies, self.engine.schema)
        self.ledger = Ledger(self.state_dir / "ledger.sqlite")

    def session(self, analyst: str) -> Session:
        from dpproxy.api import Session

        if analyst not in self.policies.config.analysts:
            known = ", ".join(sorted(self.policies.config.analysts))
            raise InvalidParameter(f"unknown analyst '{analyst}' (known: {known})")
        return Session(self, analyst)

    def period_start(self) -> float | None:
        return period_start(self.policies.config.refresh.value, time.time())

    def budget_lines(self, analyst: str | None = None) -> list[BudgetLine]:
        config = self.policies.config
        lines = []
        for name in sorted(config.analysts):
            if analyst is not None and name != analyst:
                continue
            for domain in sorted(self.policies.domains()):
                scope = budget_scopes(config, name, domain)[0]
                spent = self.ledger.spent(domain, name, self.period_start())
                lines.append(_line(name, domain, scope.limit, spent))
        return lines

    def close(self) -> None:
        self.ledger.close()
        self.engine.close()


def _line(analyst: str, domain: str, limit: Limit, spent: Cost) -> BudgetLine:
    eps_left, delta_left = limit.remaining(spent)
    return BudgetLine(
        analyst,
        domain,
        limit.budget.epsilon,
        limit.budget.delta,
        float(limit.spent_epsilon(spent)),
        float(spent.delta_value),
        float(eps_left),
        float(delta_left),
    )
