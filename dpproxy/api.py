"""The embeddable query function: ``dpproxy.connect()`` -> ``Session.query()``.

A ``Proxy`` holds what sessions share: the validated policies, the locked DuckDB engine,
the catalog and the ledger. A ``Session`` is one analyst's view of it.

>>> import dpproxy
>>> db = dpproxy.connect("policies/", analyst="alice")            # doctest: +SKIP
>>> result = db.query("SELECT city, COUNT(*) FROM members GROUP BY city", epsilon=0.5)
>>> result.columns, result.epsilon, result.budget_remaining        # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from dpproxy import pipeline
from dpproxy.accounting import Ledger
from dpproxy.accounting.budget import Cost, period_start
from dpproxy.describe import OutputType, describe
from dpproxy.engine import DuckDBEngine, EngineSettings
from dpproxy.errors import InvalidParameter
from dpproxy.policy import Policies, load_policies
from dpproxy.policy.catalog import Catalog
from dpproxy.postprocess import ColumnAccuracy


@dataclass(frozen=True)
class Result:
    """Noisy aggregates, their accuracy, and what they cost."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    accuracy: tuple[ColumnAccuracy, ...]
    epsilon: float  # charged for this query (0 when answered from the cache)
    delta: float
    rho: float
    budget_remaining: dict[str, float]
    cache_hit: bool = False
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON contract."""
        return {
            "columns": list(self.columns),
            "rows": [[_json_value(v) for v in row] for row in self.rows],
            "epsilon": self.epsilon,
            "delta": self.delta,
            "budget_remaining": dict(self.budget_remaining),
            "accuracy": [a.to_dict() for a in self.accuracy],
            "cache_hit": self.cache_hit,
            "warnings": list(self.warnings),
        }


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
                scope = pipeline.budget_scopes(self, name, domain)[0]
                spent = self.ledger.spent(domain, name, self.period_start())
                lines.append(_line(name, domain, scope.limit, spent))
        return lines

    def close(self) -> None:
        self.ledger.close()
        self.engine.close()


def _line(analyst: str, domain: str, limit: Any, spent: Cost) -> BudgetLine:
    eps_left, delta_left = limit.remaining(spent)
    return BudgetLine(
        analyst,
        domain,
        limit.budget.epsilon,
        limit.budget.delta,
        float(limit.spent_epsilon(spent)),
        float(Fraction(spent.delta, 10**18)),
        float(eps_left),
        float(delta_left),
    )


class Session:
    """One analyst's connection: every query is charged to this analyst."""

    def __init__(self, proxy: Proxy, analyst: str, *, owns_proxy: bool = False) -> None:
        self.proxy = proxy
        self.analyst = analyst
        self._owns_proxy = owns_proxy

    def query(self, sql: str, epsilon: float | None = None) -> Result:
        """Answer ``sql`` with noisy aggregates and charge the budget (an identical
        earlier query is answered again from the cache, free)."""
        outcome = pipeline.run(self.proxy, self.analyst, sql, epsilon)
        limit = outcome.scope.limit
        spent = outcome.spent_before + outcome.cost
        eps_left, delta_left = limit.remaining(spent)
        released = outcome.released
        warnings = _warnings(
            limit,
            outcome.spent_before,
            spent,
            self.proxy.policies.config.warn_at,
            outcome.scope.name,
        )
        return Result(
            released.columns,
            released.rows,
            released.accuracy,
            float(outcome.epsilon),
            float(outcome.delta),
            float(outcome.rho),
            {"epsilon": float(eps_left), "delta": float(delta_left)},
            outcome.cache_hit,
            warnings,
        )

    def explain(self, sql: str, epsilon: float | None = None) -> pipeline.Explanation:
        """Price ``sql``: no charge, no data touched."""
        return pipeline.explain(self.proxy, self.analyst, sql, epsilon)

    def describe(self, sql: str) -> tuple[OutputType, ...]:
        """Output column names and types, without executing, noising or charging."""
        return describe(self.proxy, sql)

    def budget(self) -> list[BudgetLine]:
        return self.proxy.budget_lines(self.analyst)

    def close(self) -> None:
        """Close the proxy this session owns (sessions from ``connect``)."""
        if self._owns_proxy:
            self.proxy.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _warnings(
    limit: Any, before: Cost, after: Cost, thresholds: tuple[float, ...], scope: str
) -> tuple[str, ...]:
    total = float(limit.budget.epsilon)
    was = float(limit.spent_epsilon(before)) / total
    now = float(limit.spent_epsilon(after)) / total
    crossed = [t for t in thresholds if was < t <= now]
    return tuple(f"{int(t * 100)}% of the epsilon budget of {scope} is spent" for t in crossed)


def connect(policies: str | Path, analyst: str, *, state_dir: str | Path | None = None) -> Session:
    """Load ``policies`` and open a session for ``analyst``.

    >>> db = connect("policies/", analyst="alice")                   # doctest: +SKIP
    """
    proxy = Proxy(policies, state_dir=state_dir)
    try:
        proxy.session(analyst)  # validates the analyst
    except BaseException:
        proxy.close()
        raise
    return Session(proxy, analyst, owns_proxy=True)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
