"""Execution engines. DuckDB (embedded) is the default and, for now, the only one."""

from dpproxy.engine.duckdb import BindError, DuckDBEngine, EngineSettings, Schema

__all__ = ["BindError", "DuckDBEngine", "EngineSettings", "Schema"]
