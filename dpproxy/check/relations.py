"""Rule: FROM and JOIN.

Tables must be in the policy; each appears once. Protected tables join each other only
on their privacy units (same domain), so every joined row still belongs to one unit;
public tables join on join keys. LEFT JOIN may only add a public table. The privacy
unit of the query is that of its first protected table (all are equal after the joins).
"""

from __future__ import annotations

from sqlglot import exp

from dpproxy.check.checked import ColumnRef, Relation, RowId
from dpproxy.check.context import Context, Usage, fold
from dpproxy.policy.catalog import TableInfo
from dpproxy.policy.model import Role
from dpproxy.sqlstate import SQLState

MAX_ROWS_PER_UNIT = 1_000_000  # cap on the product of per-table limits in a join
_SIGNED_INTEGERS = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"})


def resolve_relations(ctx: Context) -> None:
    from_ = ctx.select.args.get("from_")
    if from_ is None:
        return
    first = _table(ctx, from_.this)
    if first is None:
        ctx.fatal = True
        return
    ctx.relations.append(Relation(first[0], first[1], "from"))
    for join in ctx.select.args.get("joins") or []:
        _join(ctx, join)
    if ctx.fatal:
        return
    _privacy_unit(ctx)


def _table(ctx: Context, node: exp.Expr) -> tuple[str, TableInfo] | None:
    if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
        what = "subqueries" if isinstance(node, exp.Subquery) else "table functions"
        ctx.reject(
            node, SQLState.FEATURE_NOT_SUPPORTED, f"{what} are not supported in FROM; name a table"
        )
        return None
    extra = [
        k
        for k, v in node.args.items()
        if k not in ("this", "db", "alias") and v not in (None, [], False)
    ]
    if extra:
        ctx.reject(
            node,
            SQLState.FEATURE_NOT_SUPPORTED,
            f"table modifiers are not supported ({', '.join(extra)})",
        )
        return None
    if node.args.get("catalog") is not None or (
        node.args.get("db") is not None and fold(node.args["db"]) != "public"
    ):
        ctx.reject(node, SQLState.UNDEFINED_TABLE, "only tables of schema 'public' exist")
        return None
    name = fold(node.this)
    table = ctx.catalog.tables.get(name)
    if table is None:
        ctx.reject(node, SQLState.UNDEFINED_TABLE, f"relation '{name}' does not exist")
        return None
    alias_node = node.args.get("alias")
    if alias_node is not None and alias_node.args.get("columns"):
        ctx.reject(
            node, SQLState.FEATURE_NOT_SUPPORTED, "column aliases on a table are not supported"
        )
        return None
    alias = fold(alias_node.this) if alias_node is not None else name
    for rel in ctx.relations:
        if rel.alias == alias:
            ctx.reject(
                node, SQLState.DUPLICATE_ALIAS, f"table name '{alias}' specified more than once"
            )
            return None
        if rel.table.name == name:
            ctx.reject(
                node,
                SQLState.FEATURE_NOT_SUPPORTED,
                f"table '{name}' appears twice; self-joins are not supported",
            )
            return None
    return alias, table


def _join(ctx: Context, join: exp.Join) -> None:
    side = (join.args.get("side") or "").upper()
    kind = (join.args.get("kind") or "").upper()
    if (
        join.args.get("method")
        or join.args.get("using")
        or kind not in ("", "INNER", "OUTER")
        or side not in ("", "LEFT")
    ):
        ctx.reject(
            join,
            SQLState.FEATURE_NOT_SUPPORTED,
            "only [INNER] JOIN ... ON and LEFT JOIN ... ON are supported",
        )
        ctx.fatal = True
        return
    extra = [
        k
        for k, v in join.args.items()
        if k not in ("this", "on", "side", "kind") and v not in (None, [], False)
    ]
    if extra:
        ctx.reject(join, SQLState.FEATURE_NOT_SUPPORTED, "join modifiers are not supported")
        ctx.fatal = True
        return
    found = _table(ctx, join.this)
    if found is None:
        ctx.fatal = True
        return
    alias, table = found
    on = join.args.get("on")
    if on is None:
        ctx.reject(
            join,
            SQLState.FEATURE_NOT_SUPPORTED,
            "a join needs an ON condition (cross joins are not supported)",
        )
        ctx.fatal = True
        return
    if side == "LEFT" and not table.public:
        ctx.reject(join, SQLState.FEATURE_NOT_SUPPORTED, "LEFT JOIN may only add a public table")
    relation = Relation(alias, table, "left" if side == "LEFT" else "inner")
    ctx.relations.append(relation)
    pairs = _equalities(ctx, on, relation)
    ctx.relations[-1] = Relation(alias, table, relation.join, tuple(pairs))


def _equalities(ctx: Context, on: exp.Expr, new: Relation) -> list[tuple[ColumnRef, ColumnRef]]:
    conjuncts = list(on.flatten()) if isinstance(on, exp.And) else [on]
    pairs: list[tuple[ColumnRef, ColumnRef]] = []
    for cond in conjuncts:
        cond = cond.unnest()
        if not (
            isinstance(cond, exp.EQ)
            and isinstance(cond.this, exp.Column)
            and isinstance(cond.expression, exp.Column)
        ):
            ctx.reject(
                cond,
                SQLState.FEATURE_NOT_SUPPORTED,
                "a join condition must be column = column (AND ...)",
            )
            continue
        left = ctx.resolve(cond.this, Usage.JOIN)
        right = ctx.resolve(cond.expression, Usage.JOIN)
        if left is None or right is None:
            continue
        if new.alias not in (left.alias, right.alias) or left.alias == right.alias:
            ctx.reject(
                cond,
                SQLState.FEATURE_NOT_SUPPORTED,
                f"the condition must link '{new.alias}' to a table joined before it",
            )
            continue
        problem = _pair_problem(ctx, left, right)
        if problem:
            ctx.reject(cond, SQLState.INSUFFICIENT_PRIVILEGE, problem)
            continue
        if not _comparable(left, right):
            ctx.reject(
                cond,
                SQLState.DATATYPE_MISMATCH,
                f"join columns must have the same type ({left.column.sql_type} and "
                f"{right.column.sql_type}): an implicit cast could fail on one row",
            )
            continue
        pairs.append((left, right))
    return pairs


def _pair_problem(ctx: Context, left: ColumnRef, right: ColumnRef) -> str | None:
    tables = {r.alias: r.table for r in ctx.relations}
    lt, rt = tables[left.alias], tables[right.alias]
    if lt.public and rt.public:
        return None
    if not lt.public and not rt.public:
        if lt.row_level or rt.row_level:
            return "row-level tables cannot be joined with other protected tables"
        if not (left.column.has(Role.PRIVACY_UNIT) and right.column.has(Role.PRIVACY_UNIT)):
            return "protected tables can only be joined on their privacy unit columns"
        if lt.domain != rt.domain:
            return f"'{lt.name}' and '{rt.name}' have different privacy domains"
        return None
    protected = left if not lt.public else right
    if not protected.column.has(Role.JOIN_KEY):
        return f"column '{protected.column.name}' of '{protected.column.table}' is not a join key"
    return None


def _comparable(left: ColumnRef, right: ColumnRef) -> bool:
    """Whether DuckDB compares the two columns without a cast that can fail.

    A join condition is not wrapped in TRY (that would defeat the hash join), so a cast
    such as VARCHAR to INTEGER would raise an error for one bad row: a data-dependent
    error. Signed integer types widen without failure; any other pair must match exactly
    (UHUGEINT against BIGINT, or DECIMAL against HUGEINT, can fail).
    """
    a, b = left.column.sql_type.upper(), right.column.sql_type.upper()
    return a == b or {a, b} <= _SIGNED_INTEGERS


def _privacy_unit(ctx: Context) -> None:
    """Every protected table must be linked to the first one through privacy unit equalities."""
    protected = [r for r in ctx.relations if not r.table.public]
    if not protected:
        ctx.reject(
            ctx.select,
            SQLState.FEATURE_NOT_SUPPORTED,
            "the query reads no protected table; dpproxy answers questions about protected data",
        )
        ctx.fatal = True
        return
    first = protected[0]
    linked = {first.alias}
    for rel in protected[1:]:
        for a, b in rel.on:
            both_units = a.column.has(Role.PRIVACY_UNIT) and b.column.has(Role.PRIVACY_UNIT)
            if both_units and {a.alias, b.alias} - {rel.alias} <= linked:
                linked.add(rel.alias)
        if rel.alias not in linked:
            ctx.reject(
                ctx.select,
                SQLState.INSUFFICIENT_PRIVILEGE,
                f"'{rel.table.name}' must be joined on its privacy unit to another protected table",
            )
            ctx.fatal = True
            return
    table = first.table
    if table.row_level:
        ctx.privacy_unit = RowId(first.alias)
    else:
        assert table.privacy_unit is not None
        ctx.privacy_unit = ColumnRef(first.alias, table.columns[table.privacy_unit])
    ctx.domain = table.domain


def query_limits(ctx: Context) -> tuple[int, int, int]:
    """(max rows per unit, max groups per unit, min group size) for the joined relation.

    Rows multiply through a join on the unit, so the row limit is the product of the
    tables' limits; the group limit and minimum group size take the largest declared.
    The bounds are enforced on the joined rows, so the guarantee never rests on them.
    """
    rows, groups, min_size = 1, 1, 0
    for table in ctx.protected_tables:
        policy = table.policy
        assert policy.max_rows_per_unit is not None and policy.max_groups_per_unit is not None
        rows = min(rows * policy.max_rows_per_unit, MAX_ROWS_PER_UNIT)
        groups = max(groups, policy.max_groups_per_unit)
        min_size = max(min_size, policy.min_group_size)
    return rows, groups, min_size
