"""Stage 2, check: the AST against the policy. Everything not understood is rejected.

The rules run in order over one ``Context``; each collects violations and fills in its
part of the query. All violations are reported together, and only a query with none
becomes a ``CheckedQuery``.

>>> from dpproxy.parse import parse
>>> from dpproxy.check import check
>>> # check(parse("SELECT COUNT(*) FROM members"), catalog)  -> CheckedQuery
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from dpproxy.check.checked import CheckedQuery
from dpproxy.check.context import Context
from dpproxy.check.filter import check_filter
from dpproxy.check.grouping import resolve_keys
from dpproxy.check.nodes import check_nodes
from dpproxy.check.outputs import resolve_outputs
from dpproxy.check.relations import query_limits, resolve_relations
from dpproxy.check.statement import check_shape
from dpproxy.errors import QueryRejected, Violation
from dpproxy.policy.catalog import Catalog

Rule = Callable[[Context], None]

RULES: tuple[Rule, ...] = (
    check_shape,  # only the clauses we support
    check_nodes,  # every node is of an allow-listed kind (fail-closed backstop)
    resolve_relations,  # FROM and JOIN; the privacy unit and its domain
    check_filter,  # WHERE over dimensions and measures
    resolve_keys,  # GROUP BY over dimensions; public value lists
    resolve_outputs,  # select list, HAVING, ORDER BY over keys and aggregates
)


def check(select: exp.Select, catalog: Catalog) -> CheckedQuery:
    """Run every rule; raise ``QueryRejected`` with all violations, or return the query."""
    ctx = Context(select, catalog)
    for rule in RULES:
        rule(ctx)
        if ctx.fatal:
            break
    if ctx.violations:
        raise QueryRejected(_first_per_place(ctx.violations))
    rows, groups, min_size = query_limits(ctx)
    return CheckedQuery(
        relations=tuple(ctx.relations),
        privacy_unit=ctx.privacy_unit,
        domain=ctx.domain,
        filter=ctx.filter,
        keys=tuple(ctx.keys),
        aggregates=tuple(ctx.aggregates),
        outputs=tuple(ctx.outputs),
        having=ctx.having,
        order=tuple(ctx.order),
        limit=ctx.limit,
        offset=ctx.offset,
        max_rows_per_unit=rows,
        max_groups_per_unit=groups,
        min_group_size=min_size,
    )


def _first_per_place(violations: list[Violation]) -> list[Violation]:
    """One violation per position: a construct refused by two rules is reported once."""
    seen: set[int] = set()
    kept = []
    for v in violations:
        if v.offset is not None:
            if v.offset in seen:
                continue
            seen.add(v.offset)
        kept.append(v)
    return kept


__all__ = ["RULES", "CheckedQuery", "check"]
