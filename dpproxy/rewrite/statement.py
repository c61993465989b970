"""The statement the passes build: a chain of CTEs (sqlglot trees) and a final SELECT."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from dpproxy.check.checked import CheckedQuery
from dpproxy.engine.dialect import Dialect
from dpproxy.errors import InternalError
from dpproxy.plan import QueryPlan


@dataclass
class Statement:
    plan: QueryPlan
    salt: int
    dialect: Dialect
    ctes: list[tuple[str, exp.Select]] = field(default_factory=list)
    final: exp.Select | None = None

    @property
    def query(self) -> CheckedQuery:
        return self.plan.query

    @property
    def keys(self) -> list[str]:
        return [f"__k{i}" for i in range(len(self.query.keys))]

    def add(self, name: str, body: exp.Select) -> None:
        self.ctes.append((name, body))

    @property
    def last(self) -> str:
        return self.ctes[-1][0]

    def has(self, name: str) -> bool:
        return any(n == name for n, _ in self.ctes)

    def tree(self) -> exp.Select:
        if self.final is None:
            raise InternalError("the rewrite produced no final SELECT")
        tree = self.final.copy()
        for name, body in self.ctes:
            tree = tree.with_(name, as_=body, copy=False)
        return tree

    def text(self) -> str:
        return self.dialect.generate(self.tree())
