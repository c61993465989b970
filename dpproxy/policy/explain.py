"""``dpproxy policy check``: validate a policy directory against its data and explain it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dpproxy.engine import DuckDBEngine
from dpproxy.policy.catalog import Catalog
from dpproxy.policy.load import load_policies
from dpproxy.policy.model import Role


def describe(directory: str | Path) -> dict[str, Any]:
    """Load, validate (policies and the data's columns and types) and describe."""
    policies = load_policies(directory)
    engine = DuckDBEngine(policies)
    try:
        catalog = Catalog.build(policies, engine.schema)
    finally:
        engine.close()
    config = policies.config
    lines = [
        f"policy directory {policies.directory}: OK (version {policies.version[:12]})",
        f"accounting: {config.accounting.value}; refresh: {config.refresh.value}; "
        f"result cache: {'on' if config.cache else 'off'}; state: {policies.state_dir}",
        f"per query: default epsilon {config.queries.default_epsilon:g}, maximum "
        f"{config.queries.max_epsilon:g}, delta {config.queries.delta:g} when group keys "
        "are not public",
        "analysts:",
    ]
    for name, analyst in sorted(config.analysts.items()):
        lines.append(
            f"  {name}: epsilon {analyst.budget.epsilon:g}, delta "
            f"{analyst.budget.delta:g}" + (" (SCRAM verifier set)" if analyst.scram else "")
        )
    tables: list[dict[str, Any]] = []
    for name, table in sorted(catalog.tables.items()):
        policy = table.policy
        if policy.public:
            how = "public: joins freely, no budget"
        elif policy.row_level:
            how = f"row-level: each row is a privacy unit (domain {table.domain})"
        else:
            how = (
                f"privacy unit {policy.privacy_unit} (domain {table.domain}); at most "
                f"{policy.max_rows_per_unit} rows and {policy.max_groups_per_unit} groups "
                f"per unit; groups below {policy.min_group_size} units suppressed"
            )
        lines.append(f"table {name}: {how}")
        columns = []
        for column in table.columns.values():
            roles = ", ".join(sorted(r.value for r in column.roles))
            extra = ""
            if column.bounds is not None:
                extra += f" bounds [{float(column.bounds[0]):g}, {float(column.bounds[1]):g}]"
            if column.public_values is not None:
                extra += f" public values ({len(column.public_values)})"
            if Role.HIDDEN in column.roles and column.name not in policy.columns:
                extra += " (not in the policy: hidden)"
            lines.append(f"  {column.name} {column.sql_type}: {roles}{extra}")
            columns.append(
                {
                    "name": column.name,
                    "type": column.sql_type,
                    "roles": sorted(r.value for r in column.roles),
                }
            )
        tables.append({"table": name, "protection": how, "columns": columns})
    return {"ok": True, "version": policies.version, "tables": tables, "text": "\n".join(lines)}
