"""The catalog: what the checker knows about each table and column.

Built from the policies and the column types of the loaded data (schema metadata, never
values). The engine loads each column with the type its policy declares, so a declared
column's type here never depends on the values; a type the policy leaves open comes from
a Parquet or DuckDB file's schema. A data column the policy does not mention is hidden:
fail closed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from dpproxy.errors import InternalError, PolicyError
from dpproxy.policy.load import Policies
from dpproxy.policy.model import (
    Aggregate,
    ColumnPolicy,
    PublicValue,
    Role,
    TablePolicy,
    TypeKind,
    fits_kind,
)

__all__ = ["Catalog", "ColumnInfo", "TableInfo", "TypeKind", "type_kind"]

_INTEGER = re.compile(
    r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|"
    r"UBIGINT|UHUGEINT|INT\d*)$"
)
_FLOAT = re.compile(r"^(FLOAT|REAL|DOUBLE|DECIMAL(\(\d+,\s*\d+\))?|NUMERIC.*)$")


def type_kind(duckdb_type: str) -> TypeKind:
    """Classify a DuckDB type name."""
    t = duckdb_type.upper()
    if _INTEGER.match(t):
        return "integer"
    if _FLOAT.match(t):
        return "float"
    if t == "VARCHAR" or t.startswith("VARCHAR("):
        return "text"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    if t == "BOOLEAN":
        return "boolean"
    return "other"


@dataclass(frozen=True)
class ColumnInfo:
    table: str
    name: str
    sql_type: str
    roles: frozenset[Role]
    bounds: tuple[Fraction, Fraction] | None = None
    public_values: tuple[PublicValue, ...] | None = None

    @property
    def kind(self) -> TypeKind:
        return type_kind(self.sql_type)

    def has(self, role: Role) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class TableInfo:
    name: str
    policy: TablePolicy
    columns: Mapping[str, ColumnInfo]

    @property
    def public(self) -> bool:
        return self.policy.public

    @property
    def row_level(self) -> bool:
        return self.policy.row_level

    @property
    def privacy_unit(self) -> str | None:
        return self.policy.privacy_unit

    @property
    def domain(self) -> str | None:
        return self.policy.privacy_domain

    def allows(self, aggregate: Aggregate) -> bool:
        return aggregate in self.policy.aggregates


@dataclass(frozen=True)
class Catalog:
    """Tables by name (as analysts write them, case-sensitive after identifier folding)."""

    tables: Mapping[str, TableInfo]

    @classmethod
    def build(cls, policies: Policies, schema: Mapping[str, Mapping[str, str]]) -> Catalog:
        tables: dict[str, TableInfo] = {}
        for name, policy in policies.tables.items():
            file = policies.files[name].name
            data_columns = schema.get(name)
            if data_columns is None:
                raise PolicyError(f"{file}: source: the data has no table '{name}'")
            columns: dict[str, ColumnInfo] = {}
            for column, sql_type in data_columns.items():
                declared = policy.columns.get(column)
                columns[column] = _column(file, name, column, sql_type, declared)
            for column in policy.columns:
                if column not in data_columns:
                    have = ", ".join(data_columns)
                    raise PolicyError(
                        f"{file}: columns.{column}: the data has no such column (has: {have})"
                    )
            tables[name] = TableInfo(name, policy, columns)
        return cls(tables)


def _column(
    file: str, table: str, name: str, sql_type: str, declared: ColumnPolicy | None
) -> ColumnInfo:
    if declared is None:
        return ColumnInfo(table, name, sql_type, frozenset({Role.HIDDEN}))
    if declared.type is not None and sql_type != declared.type.sql:
        raise InternalError(
            f"{file}: columns.{name}: loaded as {sql_type}, the policy declares {declared.type.sql}"
        )
    kind = type_kind(sql_type)
    roles = frozenset(declared.role)
    if Role.MEASURE in roles and kind not in ("integer", "float"):
        raise PolicyError(
            f"{file}: columns.{name}: a measure must be numeric, the data has {sql_type}"
        )
    if declared.public_values is not None:
        for value in declared.public_values:
            if not fits_kind(value, kind):
                raise PolicyError(
                    f"{file}: columns.{name}.public_values: {value!r} does not fit the "
                    f"column type {sql_type}"
                )
    bounds = None
    if declared.bounds is not None:
        lo, hi = declared.bounds
        bounds = (Fraction(repr(lo)), Fraction(repr(hi)))
    return ColumnInfo(table, name, sql_type, roles, bounds, declared.public_values)
