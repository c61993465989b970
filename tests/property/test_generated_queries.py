"""Property tests over generated queries (``grammar.queries``), run through the pipeline.

For every generated query, either

* it is refused: with a five-character SQLSTATE, before the engine reads a row, with
  nothing charged and no noise drawn; never with an internal error; or
* it is answered: every measurement of every group the engine returned left the noise
  stage as exact value plus one draw from its own mechanism (counted at
  ``Mechanism.sample``), every released column carries a mechanism or a key release
  rule, the charge is exactly the plan's, and the SQL the engine ran reads nothing
  outside the policy: parsed with sqlglot's DuckDB dialect, its tables are the query's
  policy tables (or its own CTEs), its columns are declared, non-hidden policy columns,
  every node is of a known kind, and every column of a table sits inside TRY (except
  the privacy unit itself and join keys, whose types the checker matched).
"""

from __future__ import annotations

import re

import pytest
import sqlglot
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from dpproxy.accounting.budget import Cost
from dpproxy.check.nodes import ALLOWED
from dpproxy.errors import DPProxyError, InternalError
from dpproxy.policy.model import Role
from dpproxy.proxy import Proxy
from tests.instrument import Probe, instrument
from tests.property.grammar import queries

INTERNAL = re.compile(r"^__(pu|k\d+|m\d+|r\d+|g\d+|rows|units|group_rank|t__(m\d+|rows|units))$")
# Node kinds the rewrite itself adds around the checked expressions.
REWRITE_NODES = frozenset(
    {exp.With, exp.CTE, exp.Subquery, exp.Window, exp.DenseRank, exp.RowNumber, exp.Try,
     exp.Values, exp.Tuple, exp.Star, exp.Anonymous, exp.Trunc, exp.DataType,
     exp.MD5, exp.ConcatWs}  # the keyed group order (engine.dialect.md5_order)
)  # fmt: skip
ANONYMOUS = {"hash"}
SETTINGS = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@SETTINGS
@given(sql=queries(), epsilon=st.sampled_from([None, 0.05, 0.5, 2.0]))
def test_generated_query(sql: str, epsilon: float | None, generated_proxy: Proxy) -> None:
    with pytest.MonkeyPatch.context() as patch:
        probe = instrument(generated_proxy, patch)
        before = generated_proxy.ledger.spent("member", "alice")
        try:
            result = generated_proxy.session("alice").query(sql, epsilon=epsilon)
        except InternalError:
            raise
        except DPProxyError as error:
            event(f"refused {error.sqlstate}")
            _refused(generated_proxy, probe, error, before)
            return
    event("answered")
    _answered(generated_proxy, probe, result, before)
    _reads_only_the_policy(generated_proxy, probe)


def _refused(proxy: Proxy, probe: Probe, error: DPProxyError, before: Cost) -> None:
    assert re.fullmatch(r"[0-9A-Z]{5}", error.sqlstate), error.sqlstate
    assert error.sqlstate not in ("XX000", "57014"), error.message  # nothing failed at run time
    assert probe.rows_read == 0 and not probe.draws and not probe.noised
    assert probe.executed == 0, "a refused query was executed (binding is schema-only)"
    assert proxy.ledger.spent("member", "alice") == before


def _answered(proxy: Proxy, probe: Probe, result: object, before: Cost) -> None:
    assert probe.executed == 1 and len(probe.noised) == 1
    noised = probe.noised[0]
    noised.verify()
    plan = noised.plan
    assert plan.measurements
    for m in plan.measurements:
        assert m.mechanism.scale > 0 and m.sensitivity_l1 > 0
    cost = Cost.of(plan.epsilon, plan.delta, plan.rho)
    assert proxy.ledger.spent("member", "alice") == before + cost and cost.epsilon > 0
    rows = getattr(result, "rows")  # noqa: B009 - Result, typed loosely to keep one helper
    accuracy = getattr(result, "accuracy")  # noqa: B009
    assert len(rows) <= max(noised.groups, 1)
    for column in accuracy:
        assert column.mechanism in (
            "discrete_laplace", "discrete_gaussian", "public key list", "post-processing",
        ) or column.mechanism.startswith("key released when"), column.mechanism  # fmt: skip


def _reads_only_the_policy(proxy: Proxy, probe: Probe) -> None:
    (sql,) = {s for s in probe.statements}
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    plan = probe.noised[0].plan
    relations = {r.alias: r.table for r in plan.query.relations}
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        assert isinstance(table.this, exp.Identifier), table.sql()
        assert not table.args.get("db") and not table.args.get("catalog")
        if table.name in ctes:
            continue
        assert table.name in {t.name for t in relations.values()}, table.name
        assert table.alias in relations and relations[table.alias].name == table.name
    for node in tree.walk():
        kind = type(node)
        assert kind in ALLOWED or kind in REWRITE_NODES, kind.__name__
        if kind is exp.Anonymous:
            assert node.name.lower() in ANONYMOUS, node.sql()
    for column in tree.find_all(exp.Column):
        if not column.table:
            assert INTERNAL.match(column.name) or column.name in ("__keys", "__groups"), column
            continue
        if column.table in ("__keys", "__groups"):
            assert INTERNAL.match(column.name), column.sql()
            continue
        table = relations[column.table]
        info = table.columns.get(column.name)
        assert info is not None and not info.has(Role.HIDDEN), column.sql()
        _inside_try(column, info.has(Role.PRIVACY_UNIT))


def _inside_try(column: exp.Column, unit: bool) -> None:
    node: exp.Expr | None = column
    while node is not None and not isinstance(node, exp.Select):
        if isinstance(node, exp.Try):
            return
        if isinstance(node, exp.Join):
            return  # a join condition: column = column of matching types (checked)
        parent = node.parent
        if unit and isinstance(parent, exp.Alias) and parent.alias == "__pu":
            return
        if unit and isinstance(parent, exp.Is | exp.Not):
            return  # "unit IS NOT NULL": rows without a unit are left out
        node = parent
    raise AssertionError(f"{column.sql()} is evaluated outside TRY")
