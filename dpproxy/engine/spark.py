"""Apache Spark over Spark Connect: the tables of the policies as temporary views.

Spark has no switch that turns external access off (REFERENCE.md section 6): any SQL a
Spark Connect client sends may read files, call Java (``reflect``), substitute
``${env:...}`` or run SQL scripts. So the lockdown is layered, and the README (Spark)
says what the cluster operator must add:

* only dpproxy holds the token; the server must not be reachable without it;
* every outgoing statement is checked against an allowlist before it is sent
  (``check_statement``): one SELECT, relations only the policies' tables and the
  statement's own CTEs, functions only those the rewrite writes, no ``${``;
* the session is set up once, explicitly: ANSI mode on (errors raise, and ``total`` in
  ``spark_dialect`` guards every operation), the time zone UTC,
  ``spark.sql.variable.substitute=false``, ``spark.sql.runSQLOnFiles=false``,
  ``spark.sql.scripting.enabled=false``; the values are read back and checked.

Tables are read from the policies' Parquet sources (a file, or a folder read
recursively), each declared column cast to its type where that is a lossless widening.
Every failure while running is the one generic ``ExecutionFailed``; pyspark's own
logger (which prints a failed query's message, data included) is silenced.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlglot import exp, parse, parse_one
from sqlglot.errors import SqlglotError

from dpproxy.engine.base import BindError, Schema
from dpproxy.engine.spark_dialect import SparkDialect
from dpproxy.errors import ExecutionFailed, InternalError, PolicyError, QueryTimeout
from dpproxy.policy import Policies
from dpproxy.policy.model import EnginePolicy, ParquetSource

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SESSION_SETTINGS = {
    "spark.sql.ansi.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.variable.substitute": "false",
    "spark.sql.runSQLOnFiles": "false",
    "spark.sql.scripting.enabled": "false",
}
# Spark type names (simpleString) -> the DuckDB names the catalog speaks.
_TYPES = {
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp_ntz": "TIMESTAMP",
}
_SPARK_TYPES = {"TIMESTAMP": "TIMESTAMP_NTZ", "VARCHAR": "STRING", "FLOAT": "FLOAT"}
_WIDENINGS = {
    ("TINYINT", "SMALLINT"), ("TINYINT", "INTEGER"), ("TINYINT", "BIGINT"),
    ("SMALLINT", "INTEGER"), ("SMALLINT", "BIGINT"), ("INTEGER", "BIGINT"),
    ("FLOAT", "DOUBLE"), ("TINYINT", "DOUBLE"), ("SMALLINT", "DOUBLE"), ("INTEGER", "DOUBLE"),
}  # fmt: skip
# What the rewrite writes, and nothing else: checked on every outgoing statement, by
# the node sqlglot parses each name into.
_FUNCTION_NAMES = (
    "SUM", "COUNT", "COALESCE", "CAST", "TRY_CAST", "GREATEST", "LEAST", "ROUND",
    "ROW_NUMBER", "MD5", "CONCAT", "CONCAT_WS", "NULLIF", "LOWER", "UPPER", "LENGTH",
    "SUBSTRING", "TRIM", "YEAR", "MONTH", "DAY", "QUARTER", "HOUR", "MINUTE", "DAYOFWEEK",
    "WEEKDAY", "DAYOFYEAR", "WEEKOFYEAR", "DATE_TRUNC", "ABS", "FLOOR", "CEIL", "TRY_ADD",
    "TRY_SUBTRACT", "TRY_MULTIPLY", "TRY_DIVIDE", "TRY_MOD",
)  # fmt: skip


def _function_node(name: str) -> type[exp.Expr]:
    args = {"CAST": "CAST(x AS INT)", "TRY_CAST": "TRY_CAST(x AS INT)", "COUNT": "COUNT(*)",
            "ROW_NUMBER": "ROW_NUMBER()", "DATE_TRUNC": "DATE_TRUNC('DAY', x)"}  # fmt: skip
    for call in (args.get(name, f"{name}(x, y)"), f"{name}(x)"):
        try:
            select = parse_one(f"SELECT {call}", dialect="spark")
        except SqlglotError:
            continue
        assert isinstance(select, exp.Select)
        return type(select.expressions[0])
    raise InternalError(f"{name} does not parse")


_FUNCTIONS = frozenset(
    {_function_node(n) for n in _FUNCTION_NAMES} | {exp.Case, exp.If, exp.Cast, exp.TsOrDsToDate}
)  # DAYOFWEEK(x) parses with a TsOrDsToDate around x
_ANONYMOUS = frozenset(n for n in _FUNCTION_NAMES if _function_node(n) is exp.Anonymous)
_CHILD = itertools.count()


def _silence_pyspark() -> None:
    for name in ("pyspark", "py4j", "SQLQueryContextLogger", "PySparkLogger"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.CRITICAL + 1)
        logger.propagate = False


class SparkPrepared:
    """A statement analysed by Spark (names and types resolved, nothing read)."""

    def __init__(self, engine: SparkEngine, frame: DataFrame) -> None:
        self._engine = engine
        self._frame = frame

    def execute(self, timeout: float | None = None) -> list[tuple[Any, ...]]:
        return self._engine._run(self._frame, timeout)

    def close(self) -> None:
        pass  # nothing is held on the server for an unexecuted DataFrame

    def __enter__(self) -> SparkPrepared:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SparkEngine:
    """One Spark Connect session holding every table of a policy directory."""

    def __init__(self, policies: Policies, config: EnginePolicy) -> None:
        from pyspark.sql import SparkSession

        _silence_pyspark()
        if config.remote is None:
            raise PolicyError("engine: kind: spark needs remote:")
        url = config.remote
        if config.token is not None:
            url = f"{url}/;token={config.token}"  # the pattern forbids ';' and '/' in it
        self._spark: SparkSession = SparkSession.builder.remote(url).getOrCreate()
        self._policies = policies
        try:
            self._configure()
            self._paths = {t: policies.source_path(t) for t in policies.tables}
            self.schema: Schema = {t: self._load(t) for t in policies.tables}
        except BaseException:
            self._spark.stop()
            raise
        self.dialect = SparkDialect(self.schema)
        self._version = self._digest()

    def _configure(self) -> None:
        for key, value in SESSION_SETTINGS.items():
            self._spark.conf.set(key, value)
        wrong = [k for k, v in SESSION_SETTINGS.items() if self._spark.conf.get(k) != v]
        if wrong:
            raise InternalError(f"the Spark session did not take {', '.join(wrong)}")

    def _load(self, table: str) -> dict[str, str]:
        policy = self._policies.tables[table]
        if not isinstance(policy.source, ParquetSource) or policy.source.hive_partitioning:
            raise PolicyError(
                f"{table}: the Spark engine reads Parquet sources only (a file, or a folder "
                "without hive_partitioning)"
            )
        path = self._paths[table]
        reader = self._spark.read
        if policy.source.folder:
            reader = reader.option("recursiveFileLookup", "true").option(
                "pathGlobFilter", "*.parquet"
            )
        frame = reader.parquet(str(path))
        columns: dict[str, str] = {}
        selected = []
        from pyspark.sql import functions as F

        for field in frame.schema.fields:
            found = _TYPES.get(field.dataType.simpleString())
            declared_policy = policy.columns.get(field.name)
            declared = None if declared_policy is None else declared_policy.type
            if found is None and declared_policy is not None:
                raise PolicyError(
                    f"{path.name}: column {field.name} has a type Spark reads as "
                    f"{field.dataType.simpleString()}, which dpproxy cannot use"
                )
            if found is None:
                continue  # not in the policy: hidden anyway
            want = found if declared is None else declared.sql
            if want != found and (found, want) not in _WIDENINGS:
                raise PolicyError(
                    f"{path.name}: column {field.name} is {found}, the policy declares {want}"
                )
            column = F.col(f"`{field.name}`")
            if want != found:
                column = column.cast(_SPARK_TYPES.get(want, want))
            selected.append(column.alias(field.name))
            columns[field.name] = want
        missing = [c for c in policy.columns if c not in columns]
        if missing:
            raise PolicyError(f"{path.name}: no column {', '.join(missing)} in the file")
        frame.select(*selected).createOrReplaceTempView(table)
        return columns

    def _digest(self) -> str:
        """The files' stat where this process can see them (local mode, a shared
        filesystem); a path only on the cluster counts as unchanged (README)."""
        version = hashlib.sha256()
        for table, path in sorted(self._paths.items()):
            files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
            for file in files:
                try:
                    stat = file.stat()
                    version.update(
                        f"{table}\0{file}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode()
                    )
                except OSError:
                    version.update(f"{table}\0{file}\0?\0".encode())
        return version.hexdigest()

    @property
    def data_version(self) -> str:
        """A digest of the files' stat; when it changed, the views are read again (and
        their types checked against the policy again)."""
        current = self._digest()
        if current != self._version:
            for table in self._policies.tables:
                if self._load(table) != self.schema[table]:
                    raise PolicyError(f"{table}: the file's columns changed")
            self._version = current
        return current

    def prepare(self, sql: str) -> SparkPrepared:
        """Check ``sql`` against the allowlist, then have Spark analyse it (names and
        types, from the schema alone): a failure there is a ``BindError``."""
        from pyspark.errors import PySparkException

        self.check_statement(sql)
        frame = self._spark.sql(sql)
        try:
            frame.schema  # noqa: B018 - analysis only: nothing is read
        except PySparkException as exc:
            raise BindError(str(exc).splitlines()[0][:200]) from None
        return SparkPrepared(self, frame)

    def check_binds(self, sql: str) -> None:
        self.prepare(sql).close()

    def execute(self, sql: str, timeout: float | None = None) -> list[tuple[Any, ...]]:
        with self.prepare(sql) as prepared:
            return prepared.execute(timeout)

    def check_statement(self, sql: str) -> None:
        """Refuse (``InternalError``: the rewrite never writes such a thing) anything but
        one SELECT over the policies' tables with the rewrite's functions."""
        if "${" in sql or ";" in sql:
            raise InternalError("outgoing statement: substitution syntax or a second statement")
        try:
            trees = parse(sql, dialect="spark")
        except SqlglotError:
            raise InternalError("outgoing statement does not parse") from None
        if len(trees) != 1 or not isinstance(trees[0], exp.Select):
            raise InternalError("outgoing statement is not one SELECT")
        tree = trees[0]
        ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if table.args.get("db") or table.args.get("catalog"):
                raise InternalError("outgoing statement names a qualified relation")
            if table.name not in self.schema and table.name not in ctes:
                raise InternalError(f"outgoing statement reads {table.name!r}")
        for node in tree.walk():
            if isinstance(node, exp.Func) and not isinstance(node, exp.Binary | exp.Unary):
                if type(node) not in _FUNCTIONS:
                    raise InternalError(f"outgoing statement calls {type(node).__name__}")
                if isinstance(node, exp.Anonymous) and node.name.upper() not in _ANONYMOUS:
                    raise InternalError(f"outgoing statement calls {node.name}")
            if isinstance(node, exp.Command | exp.Set | exp.Create | exp.Drop | exp.Insert):
                raise InternalError("outgoing statement is not a query")

    def _run(self, frame: DataFrame, timeout: float | None) -> list[tuple[Any, ...]]:
        from pyspark.errors import PySparkException

        tag = f"dpproxy-{os.getpid()}-{next(_CHILD)}"
        fired = threading.Event()

        def expire() -> None:
            fired.set()
            self._spark.interruptTag(tag)

        timer = None if timeout is None else threading.Timer(timeout, expire)
        self._spark.addTag(tag)
        try:
            if timer is not None:
                timer.daemon = True
                timer.start()
            rows = frame.collect()
        except (PySparkException, OSError, RuntimeError, ValueError):
            if fired.is_set():
                raise QueryTimeout() from None
            raise ExecutionFailed() from None
        finally:
            if timer is not None:
                timer.cancel()
            self._spark.removeTag(tag)
        if fired.is_set():
            raise QueryTimeout()
        return [tuple(_value(v) for v in row) for row in rows]

    def interrupt_all(self) -> None:
        self._spark.interruptAll()

    def close(self) -> None:
        self._spark.stop()


def _value(value: Any) -> Any:
    """DECIMAL(38, 0) accumulators arrive as ``Decimal``: the pipeline takes ``int``."""
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ExecutionFailed()
        return int(value)
    return value
