"""Execution engines. DuckDB (embedded) is the default and, for now, the only one."""

from dpproxy.engine.duckdb import (
    BindError,
    CancelToken,
    DuckDBEngine,
    EngineSettings,
    PreparedQuery,
    Schema,
    cancellable,
)

__all__ = [
    "BindError",
    "CancelToken",
    "DuckDBEngine",
    "EngineSettings",
    "PreparedQuery",
    "Schema",
    "cancellable",
]
