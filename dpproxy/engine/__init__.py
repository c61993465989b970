"""Execution engines behind one interface (``base.Engine``). DuckDB (embedded) is the
default and, for now, the only one; ``dialect`` names what the rewrite relies on."""

from dpproxy.engine.base import BindError, Engine, Prepared, Schema
from dpproxy.engine.dialect import DUCKDB, Dialect
from dpproxy.engine.duckdb import (
    CancelToken,
    DuckDBEngine,
    EngineSettings,
    PreparedQuery,
    cancellable,
)

__all__ = [
    "DUCKDB",
    "BindError",
    "CancelToken",
    "Dialect",
    "DuckDBEngine",
    "Engine",
    "EngineSettings",
    "Prepared",
    "PreparedQuery",
    "Schema",
    "cancellable",
]
