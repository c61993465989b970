"""The embedded DuckDB engine: configured once, loaded, then locked down.

Lockdown follows REFERENCE.md section 3: extension autoload/autoinstall off, community and
unsigned extensions off, replacement scans off; each table becomes a view over its files
(CSV is loaded into memory, see ``sources``); ``allowed_paths`` and
``allowed_directories`` name exactly the Parquet files and folders those views read; then
``enable_external_access=false`` and ``lock_configuration=true``. After that no other
file can be read or written, nothing can be attached or installed, and no setting can
change. Only SQL built by ``dpproxy.rewrite`` is ever executed here.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from dpproxy.engine import sources
from dpproxy.engine.base import BindError, Schema
from dpproxy.engine.dialect import DUCKDB, DuckDBDialect
from dpproxy.errors import ExecutionFailed, InternalError, QueryTimeout
from dpproxy.policy import Policies


class CancelToken:
    """Lets another thread stop the query one session is running (a wire-protocol
    CancelRequest, a session's statement_timeout). Install it with ``cancellable`` in
    the thread that runs the query; ``cancel`` may be called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cursor: duckdb.DuckDBPyConnection | None = None
        self.reason: str | None = None

    def cancel(self, reason: str = "canceling statement due to user request") -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            if self._cursor is not None:
                self._cursor.interrupt()

    def _attach(self, cursor: duckdb.DuckDBPyConnection | None) -> str | None:
        with self._lock:
            self._cursor = cursor
            return self.reason


_CANCEL_TOKEN: ContextVar[CancelToken | None] = ContextVar("dpproxy_cancel_token", default=None)


@contextmanager
def cancellable(token: CancelToken) -> Iterator[CancelToken]:
    """Queries this thread runs inside the block can be stopped through ``token``."""
    reset = _CANCEL_TOKEN.set(token)
    try:
        yield token
    finally:
        _CANCEL_TOKEN.reset(reset)


@dataclass(frozen=True)
class EngineSettings:
    threads: int = 2
    memory_limit: str = "4GB"
    temp_directory: Path | None = None


class PreparedQuery:
    """A statement bound on one thread's cursor, not yet run: binding happens before the
    budget is reserved, execution after. ``execute`` at most once, then ``close``."""

    def __init__(self, engine: DuckDBEngine, cursor: duckdb.DuckDBPyConnection, name: str):
        self._engine = engine
        self._cursor = cursor
        self._name = name

    def execute(self, timeout: float | None = None) -> list[tuple[Any, ...]]:
        return self._engine._run(self._cursor, f"EXECUTE {self._name}", timeout)

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):  # a retired cursor took it along
            self._cursor.execute(f"DEALLOCATE {self._name}")

    def __enter__(self) -> PreparedQuery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DuckDBEngine:
    """One in-memory DuckDB database with a view (or, for CSV, a table) for every table
    of a policy directory; queries larger than ``memory_limit`` spill to the temp directory.

    ``execute`` is thread-safe: each thread (a server worker, an API caller) runs its
    queries on its own cursor, created on first use and kept; a cursor a cancel or a
    timeout may have interrupted is closed and replaced, so an interrupt can never land
    on the thread's next query.
    """

    dialect: DuckDBDialect = DUCKDB

    def __init__(self, policies: Policies, settings: EngineSettings | None = None) -> None:
        settings = settings or EngineSettings()
        self._active: set[duckdb.DuckDBPyConnection] = set()  # running a query now
        self._cursors: set[duckdb.DuckDBPyConnection] = set()  # every thread's cursor
        self._cursors_lock = threading.Lock()
        self._local = threading.local()
        self._names = itertools.count()  # prepared statement names
        config: dict[str, Any] = {
            "autoload_known_extensions": False,
            "autoinstall_known_extensions": False,
            "allow_community_extensions": False,
            "allow_unsigned_extensions": False,
            "python_enable_replacements": False,
            # The common-subexpression optimizer hoists a repeated expression out of
            # TRY (TRY(CAST(x AS INT) + CAST(x AS INT)) then fails on a bad row), which
            # would reopen the error channel the rewrite closes with TRY.
            "disabled_optimizers": "common_subexpressions",
            "threads": settings.threads,
            "memory_limit": settings.memory_limit,
        }
        if settings.temp_directory is not None:
            settings.temp_directory.mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = str(settings.temp_directory)
            config["max_temp_directory_size"] = "16GB"
        self._con = duckdb.connect(":memory:", config=config)
        self._sources = [sources.load(self._con, name, policies) for name in policies.tables]
        self.schema: Schema = self._read_schema()
        # Views read their files in place: exactly those stay readable after lockdown
        # (DuckDB adds the attached DuckDB files and the temp directory itself).
        directories, files = sources.allowed(self._sources)
        self._con.execute("SET allowed_directories = ?", [directories])
        self._con.execute("SET allowed_paths = ?", [files])
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET lock_configuration = true")
        self._probe = self._con.cursor()  # lists and describes source files
        self._probe_lock = threading.Lock()
        self._checked = {s.table: s.start for s in self._sources}  # fingerprints checked

    @property
    def data_version(self) -> str:
        """A digest of the files the engine reads now, from their stat (cheap: read for
        every query's cache key). When a source's files changed, their schemas are
        checked against the policy again first: a file that no longer matches raises
        ``PolicyError`` on every read until it does, so no query runs on a changed type.
        """
        with self._probe_lock:
            version = hashlib.sha256()
            for source in self._sources:
                fingerprint = source.fingerprint(self._probe)
                if fingerprint != self._checked[source.table]:
                    source.check(self._probe)
                    self._checked[source.table] = fingerprint
                version.update(f"{source.table}\0{fingerprint}\0".encode())
            return version.hexdigest()

    def _read_schema(self) -> Schema:
        rows = self._con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = 'main' "
            "ORDER BY table_name, ordinal_position"
        ).fetchall()
        schema: dict[str, dict[str, str]] = {}
        for table, column, data_type in rows:
            schema.setdefault(table, {})[column] = data_type
        return schema

    def prepare(self, sql: str) -> PreparedQuery:
        """Bind and plan ``sql`` on the calling thread's cursor without reading a row
        (``PREPARE``). Raises ``BindError`` for name and type errors, which the schema
        alone decides; run the result with ``PreparedQuery.execute`` in the same thread.
        """
        name = f"__dpproxy_q{next(self._names)}"
        try:
            with self._cursor() as cursor:
                cursor.execute(f"PREPARE {name} AS {sql}")
        except (duckdb.BinderException, duckdb.CatalogException, duckdb.ParserException) as exc:
            raise BindError(str(exc).splitlines()[0]) from None
        return PreparedQuery(self, cursor, name)

    def check_binds(self, sql: str) -> None:
        """Raise ``BindError`` if ``sql`` does not bind (a dry run: nothing is read)."""
        self.prepare(sql).close()

    def execute(self, sql: str, timeout: float | None = None) -> list[tuple[Any, ...]]:
        """Prepare and run ``sql`` (for callers without a charge to place in between)."""
        prepared = self.prepare(sql)
        try:
            return prepared.execute(timeout)
        finally:
            prepared.close()

    def _run(
        self, cursor: duckdb.DuckDBPyConnection, sql: str, timeout: float | None
    ) -> list[tuple[Any, ...]]:
        """Run ``sql`` on ``cursor`` and return all rows. Every failure becomes the one
        generic ``ExecutionFailed`` (or ``QueryTimeout``): its text never depends on
        data."""
        token = _CANCEL_TOKEN.get()
        self._active.add(cursor)
        try:
            if token is not None and (reason := token._attach(cursor)) is not None:
                raise QueryTimeout(reason)
            timer = None
            fired = threading.Event()
            finished = threading.Lock()  # held by whoever decides: the query or the timer
            if timeout is not None:

                def expire() -> None:
                    if finished.acquire(blocking=False):
                        fired.set()
                        cursor.interrupt()

                timer = threading.Timer(timeout, expire)
                timer.daemon = True
                timer.start()
            try:
                return cursor.execute(sql).fetchall()
            except duckdb.InterruptException:
                raise QueryTimeout(*_cancel_reason(token, fired)) from None
            except duckdb.Error:
                if fired.is_set() or (token is not None and token.reason is not None):
                    raise QueryTimeout(*_cancel_reason(token, fired)) from None
                raise ExecutionFailed() from None
            finally:
                if timer is not None:
                    finished.acquire(blocking=False)  # from here on the timer cannot interrupt
                    timer.cancel()
                cancelled = token is not None and token._attach(None) is not None
                if fired.is_set() or cancelled:
                    self._retire(cursor)  # it may carry an interrupt: never reuse it
        except BaseException:
            self._retire(cursor)
            raise
        finally:
            self._active.discard(cursor)

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The calling thread's cursor; retired (closed) if the block fails."""
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._con.cursor()
            with self._cursors_lock:
                self._cursors.add(cursor)
            self._local.cursor = cursor
        self._active.add(cursor)
        try:
            yield cursor
        except BaseException:
            self._retire(cursor)
            raise
        finally:
            self._active.discard(cursor)

    def _retire(self, cursor: duckdb.DuckDBPyConnection) -> None:
        if getattr(self._local, "cursor", None) is cursor:
            del self._local.cursor
        with self._cursors_lock:
            if cursor not in self._cursors:
                return
            self._cursors.discard(cursor)
        cursor.close()

    def interrupt_all(self) -> None:
        """Stop every running query (cancel requests, shutdown)."""
        for cursor in list(self._active):
            cursor.interrupt()

    def setting(self, name: str) -> Any:
        """Read one DuckDB setting (for tests of the lockdown)."""
        rows = self._con.execute("SELECT current_setting(?)", [name]).fetchall()
        if not rows:
            raise InternalError(f"unknown DuckDB setting {name}")
        return rows[0][0]

    def raw_connection_for_tests(self) -> duckdb.DuckDBPyConnection:
        """The locked connection itself, for tests that probe the lockdown."""
        return self._con

    def close(self) -> None:
        with self._cursors_lock:
            cursors, self._cursors = self._cursors, set()
        for cursor in cursors:
            cursor.close()
        self._con.close()


def _cancel_reason(token: CancelToken | None, timed_out: threading.Event) -> tuple[str, ...]:
    if token is not None and token.reason is not None and not timed_out.is_set():
        return (token.reason,)
    return ()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
