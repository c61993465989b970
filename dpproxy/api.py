"""The embeddable query function: ``dpproxy.connect()`` -> ``Session.query()``.

A ``Session`` is one analyst's view of a ``dpproxy.proxy.Proxy``, which holds what
sessions share: the validated policies, the locked engine, the catalog and the ledger.

>>> import dpproxy
>>> db = dpproxy.connect("policies/", analyst="alice")            # doctest: +SKIP
>>> result = db.query("SELECT city, COUNT(*) FROM members GROUP BY city", epsilon=0.5)
>>> result.columns, result.epsilon, result.budget_remaining        # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpproxy import pipeline
from dpproxy.accounting import scopes
from dpproxy.describe import OutputType, describe
from dpproxy.proxy import BudgetLine, Proxy
from dpproxy.released import ColumnAccuracy


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
        warnings = scopes.warnings(
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
