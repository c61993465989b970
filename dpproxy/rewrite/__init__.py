"""Stage 3, rewrite: a plan to the one statement the engine runs, built as sqlglot trees.

The analyst's SQL is never sent: the statement is built here from the checked parts, as
a chain of CTEs, one pass (module) per step, in ``RULES``:

1. ``source``: join, filter (total), group keys and raw values per row, with the
   privacy unit as ``__pu``;
2. ``fixed_point``: each measured value as an integer on its grid, clamped;
3. ``per_unit``: aggregate per (unit, group) first (Wilson et al. 2020);
4. ``rank_groups``: rank each unit's groups by a secret-keyed order; a unit is counted
   in (and, when group keys are selected from the data, contributes to) at most k;
5. ``clip``: scale each unit's contribution vector of every measurement down to the L1
   norm its sensitivity allows (R rows' worth);
6. ``per_group``: exact integer measurements per group;
7. ``public_keys``: with public keys, every key of the policy appears (empty groups 0).

What the trees must mean on an engine (error-free expressions, the exact accumulator,
truncating division, the keyed order, generating without silently dropping anything)
is the engine's ``Dialect`` (``dpproxy.engine.dialect``).

>>> # rewrite(plan, salt) -> "WITH __source AS (...) SELECT ..."
"""

from __future__ import annotations

from collections.abc import Callable

from dpproxy.engine.dialect import DUCKDB, Dialect
from dpproxy.plan import QueryPlan
from dpproxy.rewrite.clip import clip
from dpproxy.rewrite.fixed_point import fixed_point
from dpproxy.rewrite.per_group import per_group
from dpproxy.rewrite.per_unit import per_unit
from dpproxy.rewrite.public_keys import public_keys
from dpproxy.rewrite.rank_groups import rank_groups
from dpproxy.rewrite.source import source
from dpproxy.rewrite.statement import Statement

Pass = Callable[[Statement], None]
RULES: tuple[Pass, ...] = (
    source,
    fixed_point,
    per_unit,
    rank_groups,
    clip,
    per_group,
    public_keys,
)


def rewrite(plan: QueryPlan, salt: int, dialect: Dialect = DUCKDB) -> str:
    """Build the bounded SQL for ``plan`` in ``dialect``; ``salt`` (from
    ``dpproxy.noise``) keys the random order of each unit's groups."""
    statement = Statement(plan, salt, dialect)
    for rule in RULES:
        rule(statement)
    return statement.text()


__all__ = ["RULES", "Statement", "rewrite"]
