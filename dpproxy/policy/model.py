"""Policy models: what a data owner declares, validated once at the boundary.

All models are frozen and forbid unknown keys, so a typo such as ``uper:`` is an error.
Cross-field rules (a measure needs bounds, a table has exactly one kind of privacy
protection, ...) live in ``model_validator`` methods beside the fields they relate.
"""

from __future__ import annotations

import datetime as dt
import math
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
Name = Annotated[str, Field(pattern=IDENTIFIER, max_length=63)]
PublicValue = str | int | float | bool
TypeKind = Literal["integer", "float", "text", "date", "timestamp", "boolean", "other"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class Role(StrEnum):
    PRIVACY_UNIT = "privacy_unit"
    DIMENSION = "dimension"
    MEASURE = "measure"
    JOIN_KEY = "join_key"
    HIDDEN = "hidden"


class Aggregate(StrEnum):
    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    SUM = "sum"
    AVG = "avg"
    VARIANCE = "variance"
    STDDEV = "stddev"


class Accounting(StrEnum):
    PURE = "pure"  # pure epsilon-DP, basic composition, discrete Laplace
    ZCDP = "zcdp"  # rho-zCDP, discrete Gaussian, converted to (epsilon, delta)


class Refresh(StrEnum):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class ColumnType(StrEnum):
    """The column types a policy may declare (written in any case: ``BIGINT`` or ``bigint``).

    A closed set, so that every name means exactly one DuckDB type; ``text`` and
    ``varchar`` are the same type. ``real`` is DuckDB's 4-byte float (which DuckDB reports
    as ``FLOAT``); there is no ``float`` here because other databases read it as 8 bytes.
    """

    BOOLEAN = "boolean"
    SMALLINT = "smallint"
    INTEGER = "integer"
    BIGINT = "bigint"
    REAL = "real"
    DOUBLE = "double"
    TEXT = "text"
    VARCHAR = "varchar"
    DATE = "date"
    TIMESTAMP = "timestamp"

    @property
    def sql(self) -> str:
        """The DuckDB type name, as ``information_schema.columns`` reports it."""
        return _SQL_TYPES[self]

    @property
    def kind(self) -> TypeKind:
        return _KINDS[self]


_SQL_TYPES = {
    ColumnType.BOOLEAN: "BOOLEAN",
    ColumnType.SMALLINT: "SMALLINT",
    ColumnType.INTEGER: "INTEGER",
    ColumnType.BIGINT: "BIGINT",
    ColumnType.REAL: "FLOAT",
    ColumnType.DOUBLE: "DOUBLE",
    ColumnType.TEXT: "VARCHAR",
    ColumnType.VARCHAR: "VARCHAR",
    ColumnType.DATE: "DATE",
    ColumnType.TIMESTAMP: "TIMESTAMP",
}
_KINDS: dict[ColumnType, TypeKind] = {
    ColumnType.BOOLEAN: "boolean",
    ColumnType.SMALLINT: "integer",
    ColumnType.INTEGER: "integer",
    ColumnType.BIGINT: "integer",
    ColumnType.REAL: "float",
    ColumnType.DOUBLE: "float",
    ColumnType.TEXT: "text",
    ColumnType.VARCHAR: "text",
    ColumnType.DATE: "date",
    ColumnType.TIMESTAMP: "timestamp",
}
_INTEGER_RANGES = {
    ColumnType.SMALLINT: (-(2**15), 2**15 - 1),
    ColumnType.INTEGER: (-(2**31), 2**31 - 1),
    ColumnType.BIGINT: (-(2**63), 2**63 - 1),
}


def fits_kind(value: PublicValue, kind: TypeKind) -> bool:
    """Whether a public value (as YAML wrote it) can be a value of a column of ``kind``."""
    if kind == "text":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)  # dates and timestamps are written as ISO strings


def _fits(value: PublicValue, declared: ColumnType) -> bool:
    if not fits_kind(value, declared.kind):
        return False
    if declared in _INTEGER_RANGES:
        lo, hi = _INTEGER_RANGES[declared]
        return lo <= int(value) <= hi
    try:
        if declared == ColumnType.DATE:
            dt.date.fromisoformat(str(value))
        elif declared == ColumnType.TIMESTAMP:
            dt.datetime.fromisoformat(str(value))
    except ValueError:
        return False
    return True


class ColumnPolicy(Frozen):
    """One column: its type and role(s), the clamping bounds of a measure, public group
    keys. ``type`` is required for a CSV source (see ``TablePolicy``)."""

    type: ColumnType | None = None
    role: tuple[Role, ...]
    bounds: tuple[float, float] | None = None
    public_values: tuple[PublicValue, ...] | None = None
    description: str | None = None

    @field_validator("role", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("type", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> ColumnPolicy:
        roles = set(self.role)
        if not roles:
            raise ValueError("role: at least one role is required")
        if len(roles) != len(self.role):
            raise ValueError("role: a role is listed twice")
        for alone in (Role.PRIVACY_UNIT, Role.HIDDEN):
            if alone in roles and len(roles) > 1:
                raise ValueError(f"role: '{alone}' cannot be combined with another role")
        if Role.MEASURE in roles:
            if self.bounds is None:
                raise ValueError("bounds: a measure needs bounds: [lo, hi]")
        elif self.bounds is not None:
            raise ValueError("bounds: only a measure has bounds")
        if self.bounds is not None:
            lo, hi = self.bounds
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError("bounds: must be finite numbers")
            if lo > hi:
                raise ValueError(f"bounds: lower bound {lo} exceeds upper bound {hi}")
            if max(abs(lo), abs(hi)) > 2.0**50:
                raise ValueError("bounds: magnitude above 2**50 is not supported")
        if self.public_values is not None:
            if Role.DIMENSION not in roles:
                raise ValueError("public_values: only a dimension has public values")
            if not self.public_values:
                raise ValueError("public_values: the list is empty")
            if len(set(self.public_values)) != len(self.public_values):
                raise ValueError("public_values: a value is listed twice")
        if self.type is not None:
            if Role.MEASURE in roles and self.type.kind not in ("integer", "float"):
                raise ValueError(f"type: a measure must be numeric, not {self.type.value}")
            for value in self.public_values or ():
                if not _fits(value, self.type):
                    raise ValueError(
                        f"public_values: {value!r} does not fit the type {self.type.value}"
                    )
        return self


class CsvSource(Frozen):
    csv: str


class ParquetSource(Frozen):
    """A Parquet file, or a folder of them (written with a trailing ``/``: every
    ``*.parquet`` file below it, read together; ``hive_partitioning: true`` reads
    ``key=value`` folder names as columns). Read in place, never copied."""

    parquet: str
    hive_partitioning: bool = False

    @property
    def folder(self) -> bool:
        return self.parquet.endswith("/")

    @model_validator(mode="after")
    def _form(self) -> ParquetSource:
        if any(c in self.parquet for c in "*?[]{}"):
            raise ValueError(
                "parquet: globs are not supported: name a file, or a folder ending in '/'"
            )
        if self.hive_partitioning and not self.folder:
            raise ValueError("hive_partitioning: needs a folder (a parquet path ending in '/')")
        return self


class DuckDBSource(Frozen):
    duckdb: str
    table: Name


Source = CsvSource | ParquetSource | DuckDBSource


class TablePolicy(Frozen):
    """One table: where its data lives and how it is protected."""

    table: Name
    description: str | None = None
    source: Source
    privacy_unit: Name | None = None
    row_level: bool = False
    public: bool = False
    domain: Name | None = None
    max_rows_per_unit: int | None = Field(default=None, ge=1, le=1_000_000)
    max_groups_per_unit: int | None = Field(default=None, ge=1, le=100_000)
    min_group_size: int = Field(default=0, ge=0)
    aggregates: tuple[Aggregate, ...] = tuple(Aggregate)
    columns: dict[Name, ColumnPolicy]

    @field_validator("source", mode="before")
    @classmethod
    def _known_source(cls, value: object) -> object:
        if isinstance(value, dict) and "delta" in value:
            raise ValueError(
                "delta: Delta tables are not supported (no DuckDB 2.0 delta extension can "
                "be installed without a download); export the table to Parquet"
            )
        return value

    @model_validator(mode="after")
    def _protection(self) -> TablePolicy:
        kinds = [
            k
            for k, on in (
                ("privacy_unit", self.privacy_unit is not None),
                ("row_level", self.row_level),
                ("public", self.public),
            )
            if on
        ]
        if len(kinds) != 1:
            raise ValueError(
                "exactly one of privacy_unit: <column>, row_level: true, public: true "
                f"is required (found {', '.join(kinds) or 'none'})"
            )
        units = [c for c, p in self.columns.items() if Role.PRIVACY_UNIT in p.role]
        if self.privacy_unit is not None:
            if self.privacy_unit not in self.columns:
                raise ValueError(f"privacy_unit: column '{self.privacy_unit}' is not in columns")
            if units != [self.privacy_unit]:
                raise ValueError(
                    f"columns: exactly the privacy unit column '{self.privacy_unit}' must "
                    f"have role privacy_unit (found {units})"
                )
        elif units:
            raise ValueError(f"columns.{units[0]}: role privacy_unit needs privacy_unit: <column>")
        if self.public:
            for key in ("max_rows_per_unit", "max_groups_per_unit", "domain"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key}: a public table has no privacy unit")
            if self.min_group_size:
                raise ValueError("min_group_size: a public table has no privacy unit")
        else:
            for key in ("max_rows_per_unit", "max_groups_per_unit"):
                if getattr(self, key) is None:
                    raise ValueError(f"{key}: required for a protected table")
        return self

    @model_validator(mode="after")
    def _typed(self) -> TablePolicy:
        # CSV carries no types: left to DuckDB, a column's type would follow its values.
        if isinstance(self.source, CsvSource):
            untyped = [f"columns.{c}.type" for c, p in self.columns.items() if p.type is None]
            if untyped:
                raise ValueError(
                    f"{', '.join(untyped)}: required for a CSV source (DuckDB would infer "
                    "the type from the values)"
                )
        return self

    @property
    def privacy_domain(self) -> str | None:
        """Tables sharing a privacy unit share a budget domain; row-level tables are alone."""
        if self.public:
            return None
        return self.domain or self.privacy_unit or f"rows_of_{self.table}"


class BudgetPolicy(Frozen):
    epsilon: float = Field(gt=0, le=1000)
    delta: float = Field(default=0.0, ge=0, lt=1)


class AnalystPolicy(Frozen):
    budget: BudgetPolicy
    scram: str | None = None  # SCRAM-SHA-256 verifier, never a plaintext password
    domains: dict[Name, BudgetPolicy] = {}  # per-domain budgets overriding ``budget``


class QueryDefaults(Frozen):
    default_epsilon: float = Field(default=0.5, gt=0)
    max_epsilon: float = Field(default=2.0, gt=0)
    # A floor on a query's epsilon: a query's running time is not noised, so very cheap
    # queries would let an analyst time many of them (see the README's security model).
    min_epsilon: float = Field(default=0.01, gt=0)
    delta: float = Field(default=1e-7, ge=0, lt=1)  # per query, for partition selection
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_query_length: int = Field(default=100_000, ge=100)
    max_output_cells: int = Field(default=1_000_000, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> QueryDefaults:
        if self.default_epsilon > self.max_epsilon:
            raise ValueError("default_epsilon: exceeds max_epsilon")
        if not self.min_epsilon <= self.default_epsilon:
            raise ValueError("min_epsilon: exceeds default_epsilon")
        return self


class TLSMode(StrEnum):
    DISABLE = "disable"  # refuse SSLRequest
    ALLOW = "allow"  # TLS when the client asks for it
    REQUIRE = "require"  # refuse clients that do not use TLS


class TLSPolicy(Frozen):
    certificate: str  # PEM file, relative to dpproxy.yaml
    key: str  # PEM file, relative to dpproxy.yaml
    mode: TLSMode = TLSMode.ALLOW


class ServerPolicy(Frozen):
    """The PostgreSQL wire server (``dpproxy serve``)."""

    host: str = "127.0.0.1"
    port: int = Field(default=5433, ge=1, le=65535)
    max_connections: int = Field(default=64, ge=1, le=10_000)  # authenticated sessions
    workers: int = Field(default=4, ge=1, le=256)  # engine threads serving queries
    tls: TLSPolicy | None = None
    authentication: Literal["scram-sha-256", "trust"] = "scram-sha-256"
    # Free statements (catalog, SET/SHOW/BEGIN...) run on their own small pool with a
    # short time limit, so they can never hold the engine threads of DP queries.
    free_workers: int = Field(default=2, ge=1, le=64)
    free_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # Connections that have not authenticated yet: their own cap and a deadline.
    max_authenticating: int = Field(default=32, ge=1, le=10_000)
    authentication_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    # Per connection
    max_prepared_statements: int = Field(default=1000, ge=1, le=100_000)
    max_portals: int = Field(default=100, ge=1, le=10_000)
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=8192, le=1024**3)


_SPARK_REMOTE = r"^(sc://[A-Za-z0-9.\-]+(:\d{1,5})?|local\[\d{1,3}\])$"


class EngineKind(StrEnum):
    DUCKDB = "duckdb"  # embedded, the default
    SPARK = "spark"  # Apache Spark over Spark Connect (``pip install 'dpproxy[spark]'``)


class EnginePolicy(Frozen):
    """Where the tables are queried: ``{kind: spark, remote: sc://host:15002, token: ...}``.

    ``remote`` is a Spark Connect URL (``sc://host:port``) or, for tests and a single
    machine, ``local[N]`` (a local Spark started by dpproxy). The token authenticates
    dpproxy to the Spark Connect server; only dpproxy may hold it (README, Spark).
    """

    kind: EngineKind = EngineKind.DUCKDB
    remote: str | None = Field(default=None, pattern=_SPARK_REMOTE)
    token: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._~-]{1,512}$", repr=False)

    @model_validator(mode="after")
    def _complete(self) -> EnginePolicy:
        if self.kind is EngineKind.DUCKDB and (self.remote or self.token):
            raise ValueError("remote: and token: are for kind: spark only")
        if self.kind is EngineKind.SPARK and self.remote is None:
            raise ValueError("kind: spark needs remote: (sc://host:15002, or local[2])")
        if self.token is not None and not str(self.remote).startswith("sc://"):
            raise ValueError("token: is sent to an sc:// server only")
        return self


class Config(Frozen):
    """The top-level ``dpproxy.yaml``: analysts and their budgets, limits, state."""

    analysts: dict[Name, AnalystPolicy]
    queries: QueryDefaults = QueryDefaults()
    accounting: Accounting = Accounting.PURE
    state: str = "../state"
    cache: bool = True
    global_budgets: dict[Name, BudgetPolicy] = {}  # per domain, across all analysts
    refresh: Refresh = Refresh.NONE
    warn_at: tuple[float, ...] = (0.5, 0.9)
    engine: EnginePolicy = EnginePolicy()
    engine_threads: int = Field(default=2, ge=1, le=256)
    engine_memory_limit: str = Field(default="4GB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")
    server: ServerPolicy = ServerPolicy()

    @field_validator("warn_at")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < v < 1 for v in value):
            raise ValueError("each warning threshold is a fraction between 0 and 1")
        return tuple(sorted(value))


Kind = Literal["csv", "parquet", "duckdb"]


def source_kind(source: Source) -> tuple[Kind, str]:
    """The kind of a data source and its (policy-relative) path."""
    if isinstance(source, CsvSource):
        return "csv", source.csv
    if isinstance(source, ParquetSource):
        return "parquet", source.parquet
    return "duckdb", source.duckdb
