"""Each table's source, typed as its policy declares: read in place, or (CSV) loaded.

A column's type must never depend on the values: DuckDB's CSV sniffer would make
``members.age`` DOUBLE because one member is 45.5, and the type is visible for free in
Describe, ``explain`` and ``\\d``. So a CSV file is read as text and each declared column
is cast to its declared type, after a strict check (DuckDB's own casts are lenient:
``'45.5'::BIGINT`` is 46, ``'2024-01-01 12:00'::DATE`` drops the time). A value that
does not fit is a ``PolicyError`` naming the file, the line and the column; columns the
policy does not mention stay VARCHAR (they are hidden anyway). CSV is the small-data
path: checked once and kept in memory, so the engine answers from what it checked (a
changed CSV file is read at the next start).

Parquet and DuckDB files carry a schema and are read in place, through a view: a
declared type must match the file's, or be a lossless widening of it (cast in the view).
A Parquet folder is every ``*.parquet`` file below it, re-listed by each query; all its
files must agree on each column's type, because DuckDB would silently cast a file that
differs to the type of the first one. A DuckDB file is attached read-only at start.

``Source.fingerprint`` (the stat of every file read) is what the engine's data version is
made of; when it moves, ``Source.check`` re-reads the schemas and refuses a file that no
longer matches the policy. Line numbers count the header as line 1, so data row n is
line n + 1; a file with blank lines or quoted line breaks has its later rows further down.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from dpproxy.errors import PolicyError
from dpproxy.policy import Policies
from dpproxy.policy.model import ColumnPolicy, ColumnType, CsvSource, DuckDBSource, ParquetSource

_STAGING = '"dpproxy-staging"'  # not a valid policy table name, so it never collides

# The text a CSV field must match (after trimming spaces) to be read as a type; the
# cast then checks ranges (hour 25, February 30, an integer beyond BIGINT).
_INTEGER = r"[+-]?[0-9]+"
_DECIMAL = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
_INFINITY = r"[+-]?(inf|infinity)"
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIMESTAMP = _DATE + r"([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?"  # no time zone
_BOOLEAN = ("true", "false", "t", "f", "1", "0")

# Declared type -> file types it may be read from without losing a value.
_WIDENINGS: Mapping[str, frozenset[str]] = {
    "SMALLINT": frozenset({"TINYINT", "UTINYINT"}),
    "INTEGER": frozenset({"TINYINT", "SMALLINT", "UTINYINT", "USMALLINT"}),
    "BIGINT": frozenset({"TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT", "UINTEGER"}),
    "FLOAT": frozenset({"TINYINT", "SMALLINT", "UTINYINT", "USMALLINT"}),
    "DOUBLE": frozenset(
        {"FLOAT", "TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT", "UINTEGER"}
    ),
    "TIMESTAMP": frozenset({"TIMESTAMP_S", "TIMESTAMP_MS"}),
}


@dataclass(frozen=True)
class Source:
    """One table's source as the engine reads it, and what its version is made of.

    ``columns`` are the file columns the view selects, with the type each had at start
    (the view's column list is fixed then: a column added later is not read).
    """

    table: str
    kind: str  # csv | parquet | duckdb
    path: Path
    folder: bool = False
    hive_keys: tuple[str, ...] = ()
    columns: Mapping[str, str] = field(default_factory=dict)
    declared: Mapping[str, ColumnType] = field(default_factory=dict)
    start: str = ""  # the fingerprint at start

    def files(self, con: duckdb.DuckDBPyConnection) -> list[Path]:
        """The files a query reads now (a folder's, as DuckDB's own glob lists them)."""
        if not self.folder:
            return [self.path]
        rows = con.execute("SELECT file FROM glob(?) ORDER BY file", [_pattern(self.path)])
        return [Path(row[0]) for row in rows.fetchall()]

    def fingerprint(self, con: duckdb.DuckDBPyConnection) -> str:
        """A digest of what this source reads now. A CSV table is the copy made at start;
        a DuckDB file cannot change under an attached database, so a change is refused."""
        if self.kind == "csv":
            return self.start
        files = self.files(con)
        digest = _stat_digest(self.path, files, self.folder)
        if self.kind == "duckdb" and digest != self.start:
            raise PolicyError(
                f"{self.path.name}: the DuckDB file of table {self.table} changed since "
                "dpproxy started (it is attached at start); restart dpproxy to read it"
            )
        return digest

    def check(self, con: duckdb.DuckDBPyConnection) -> None:
        """Raise ``PolicyError`` unless every file still matches the policy."""
        if self.kind != "parquet":
            return
        files = self.files(con)
        if not files:
            raise PolicyError(f"{self.path.name}/: no Parquet files in the folder")
        seen: dict[str, tuple[str, Path]] = {}
        for file in files:
            label = self._label(file)
            schema = _describe(con, "read_parquet(?, hive_partitioning = false)", [str(file)])
            for name in self.columns:
                if name in self.hive_keys:
                    continue
                if name not in schema:
                    raise PolicyError(f"{label}: column {name}: missing from the file")
                if name in seen and seen[name][0] != schema[name]:
                    other, first = seen[name]
                    raise PolicyError(
                        f"{label}: column {name}: the file has type {schema[name]}, "
                        f"{self._label(first)} has {other} (every file of a folder must "
                        "have the same types)"
                    )
                seen[name] = (schema[name], file)
                self._accept(label, name, schema[name])
        if self.hive_keys:
            _check_partitions(con, self.path, files, self.hive_keys, self.declared)

    def _accept(self, label: str, name: str, file_type: str) -> None:
        want = self.declared.get(name)
        if want is None:
            if file_type != self.columns[name]:
                raise PolicyError(
                    f"{label}: column {name}: the file has type {file_type}, it had "
                    f"{self.columns[name]} when dpproxy started"
                )
        elif file_type != want.sql and file_type not in _WIDENINGS.get(want.sql, ()):
            raise PolicyError(
                f"{label}: column {name}: the file has type {file_type}, the policy declares "
                f"{want.value} ({want.sql}), and only a lossless widening is cast"
            )

    def _label(self, file: Path) -> str:
        if not self.folder:
            return file.name
        return f"{self.path.name}/{file.relative_to(self.path)}"


def load(con: duckdb.DuckDBPyConnection, table: str, policies: Policies) -> Source:
    """Create ``table`` in ``con`` from its source, each declared column of its type:
    a view reading the file(s) in place, or for CSV a table loaded now."""
    policy = policies.tables[table]
    path = policies.source_path(table)
    spec = policy.source
    declared = {c: p.type for c, p in policy.columns.items() if p.type is not None}
    if isinstance(spec, CsvSource):
        _load_csv(con, table, path.name, str(path), policy.columns)
        return Source(table, "csv", path, start=_stat_digest(path, [path], False))
    if isinstance(spec, DuckDBSource):
        alias = _attach(con, path)
        relation = f"{alias}.{_quote(spec.table)}"
        columns = _describe(con, relation, [])
        source = Source(table, "duckdb", path, columns=columns, declared=declared,
                        start=_stat_digest(path, [path], False))  # fmt: skip
        for name, file_type in columns.items():
            source._accept(f"{path.name} (table {spec.table})", name, file_type)
        _create_view(con, table, relation, source)
        return source
    assert isinstance(spec, ParquetSource)
    listing = Source(table, "parquet", path, folder=spec.folder)
    files = listing.files(con)
    if not files:
        raise PolicyError(f"{path.name}/: no Parquet files in the folder")
    keys = _partition_keys(path, files[0]) if spec.hive_partitioning else ()
    source = replace(listing, hive_keys=keys, declared=declared)
    relation = _read_parquet(source)
    source = replace(source, columns=_describe(con, relation, []))
    source.check(con)
    _create_view(con, table, relation, source)
    return replace(source, start=_stat_digest(path, files, source.folder))


def allowed(sources: list[Source]) -> tuple[list[str], list[str]]:
    """What the locked engine may still read: (directories, files). A folder stays open
    as a whole so that files added later are read; everything else is one exact file."""
    directories = [f"{s.path}/" for s in sources if s.kind == "parquet" and s.folder]
    files = [str(s.path) for s in sources if s.kind == "parquet" and not s.folder]
    return directories, files


def _read_parquet(source: Source) -> str:
    options = [f"hive_partitioning = {'true' if source.hive_keys else 'false'}"]
    if source.hive_keys:
        types = ", ".join(
            f"{_literal(k)}: {_literal(t.sql if (t := source.declared.get(k)) else 'VARCHAR')}"
            for k in source.hive_keys
        )
        options += [f"hive_types = {{{types}}}", "hive_types_autocast = false"]
    target = _pattern(source.path) if source.folder else str(source.path)
    return f"read_parquet({_literal(target)}, {', '.join(options)})"


def _create_view(con: duckdb.DuckDBPyConnection, table: str, relation: str, source: Source) -> None:
    """The view casts each declared column, under a guard on the type the file has when
    the query runs: ``typeof`` is a constant, so the guard folds away while the file
    matches, and fails the query if it changed and ``Source.check`` has not run (the
    version is read only for the cache). A WHERE, so the rewrite's TRY cannot swallow it."""
    selected, guards = [], []
    for name in source.columns:
        want = source.declared.get(name)
        if want is None or name in source.hive_keys:
            selected.append(_quote(name))
            continue
        selected.append(f"CAST({_quote(name)} AS {want.sql}) AS {_quote(name)}")
        accepted = ", ".join(_literal(t) for t in sorted({want.sql, *_WIDENINGS.get(want.sql, ())}))
        guards.append(f"typeof({_quote(name)}) IN ({accepted})")
    guard = " AND ".join(guards) or "true"
    message = _literal(f"a source file of table {table} no longer has its declared types")
    con.execute(
        f"CREATE VIEW {_quote(table)} AS SELECT {', '.join(selected)} FROM {relation} "
        f"WHERE ({guard}) OR error({message})"
    )


def _attach(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    """Attach a DuckDB file read-only once (two tables may share one file)."""
    rows = con.execute("SELECT database_name FROM duckdb_databases() WHERE path = ?", [str(path)])
    if (row := rows.fetchone()) is not None:
        return _quote(row[0])
    count = con.execute("SELECT count(*) FROM duckdb_databases()").fetchone()
    alias = _quote(f"dpproxy-source-{count[0] if count else 0}")  # never a policy name
    con.execute(f"ATTACH ? AS {alias} (READ_ONLY)", [str(path)])
    return alias


def _describe(con: duckdb.DuckDBPyConnection, relation: str, params: list[str]) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation}", params).fetchall()
    return {row[0]: row[1] for row in rows}


def _partition_keys(root: Path, file: Path) -> tuple[str, ...]:
    return tuple(p.split("=", 1)[0] for p in file.relative_to(root).parts[:-1] if "=" in p)


def _check_partitions(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    files: list[Path],
    keys: tuple[str, ...],
    declared: Mapping[str, ColumnType],
) -> None:
    """Every file has the partition keys of the first; a declared key's values fit its
    type (DuckDB's cast of the folder name would be lenient, as for CSV)."""
    values: dict[str, dict[str, Path]] = {k: {} for k in keys}
    for file in files:
        parts = dict(p.split("=", 1) for p in file.relative_to(root).parts[:-1] if "=" in p)
        if tuple(parts) != keys:
            raise PolicyError(
                f"{root.name}/{file.relative_to(root)}: partition keys {', '.join(parts) or '-'}"
                f" differ from those of the folder's other files ({', '.join(keys)})"
            )
        for key, value in parts.items():
            values[key].setdefault(value, file)
    for key, seen in values.items():
        want = declared.get(key)
        if want is None or want.kind == "text":
            continue
        row = con.execute(
            f"SELECT v FROM unnest(?::VARCHAR[]) t(v) WHERE NOT {_fits('v', want)} LIMIT 1",
            [list(seen)],
        ).fetchone()
        if row is not None:
            raise PolicyError(
                f"{root.name}/{seen[row[0]].relative_to(root)}: partition {key}: {row[0]!r} "
                f"is not a valid {want.sql} (the policy declares type {want.value})"
            )


def _stat_digest(root: Path, files: list[Path], folder: bool) -> str:
    """Inode, size, mtime and ctime of every file read (and, for a folder, of every
    directory on the way, which move when a file is added or removed). The ctime moves
    on every change and cannot be set back, so a version never comes back."""
    paths = set(files)
    if folder:
        paths.add(root)
        for file in files:
            paths.update(p for p in file.parents if p.is_relative_to(root))
    digest = hashlib.sha256()
    for path in sorted(paths):
        try:
            st = os.stat(path)
        except OSError:
            raise PolicyError(f"{path}: a source file of the policy is missing") from None
        digest.update(
            f"{path}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0".encode()
        )
    return digest.hexdigest()


def _pattern(folder: Path) -> str:
    return f"{folder}/**/*.parquet"


def _load_csv(
    con: duckdb.DuckDBPyConnection,
    table: str,
    file: str,
    path: str,
    columns: Mapping[str, ColumnPolicy],
) -> None:
    # RFC 4180 fixed rather than sniffed; every field as text, empty fields NULL.
    con.execute(
        f"CREATE TEMP TABLE {_STAGING} AS SELECT * FROM read_csv(?, header = true, "
        "all_varchar = true, delim = ',', quote = '\"', escape = '\"')",
        [path],
    )
    try:
        names = [row[0] for row in con.execute(f"DESCRIBE {_STAGING}").fetchall()]
        typed = {n: t for n in names if (t := columns[n].type if n in columns else None)}
        _check_csv(con, file, names, typed)
        selected = ", ".join(
            f"CAST(trim({_quote(n)}) AS {typed[n].sql}) AS {_quote(n)}" if n in typed and
            typed[n].kind != "text" else _quote(n)
            for n in names
        )  # fmt: skip
        con.execute(f"CREATE TABLE {_quote(table)} AS SELECT {selected} FROM {_STAGING}")
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_STAGING}")


def _check_csv(
    con: duckdb.DuckDBPyConnection, file: str, names: list[str], typed: Mapping[str, ColumnType]
) -> None:
    """Raise for the first row (in file order) holding a value its column's type refuses."""
    checks = {n: _fits(_quote(n), t) for n, t in typed.items() if t.kind != "text"}
    if not checks:
        return
    ok = ", ".join(f"{check} AS {_quote(n)}" for n, check in checks.items())
    values = ", ".join(_quote(n) for n in checks)
    failing = " OR ".join(f"NOT {check}" for check in checks.values())
    row = con.execute(
        f"SELECT rowid, {ok}, {values} FROM {_STAGING} WHERE {failing} ORDER BY rowid LIMIT 1"
    ).fetchone()
    if row is None:
        return
    flags = dict(zip(checks, row[1 : 1 + len(checks)], strict=True))
    texts = dict(zip(checks, row[1 + len(checks) :], strict=True))
    column = next(n for n in names if n in checks and not flags[n])
    text = texts[column]
    shown = text if len(text) <= 40 else text[:40] + "..."
    raise PolicyError(
        f"{file}: line {row[0] + 2}, column {column}: {shown!r} is not a valid "
        f"{typed[column].sql} (the policy declares type {typed[column].value})"
    )


def _fits(column: str, declared: ColumnType) -> str:
    """A SQL predicate: the text in ``column`` is NULL or a value of ``declared``."""
    v = f"trim({column})"
    cast = f"TRY_CAST({v} AS {declared.sql}) IS NOT NULL"
    kind = declared.kind
    if kind == "integer":
        test = f"regexp_full_match({v}, '{_INTEGER}') AND {cast}"
    elif kind == "float":
        # an overflow would become infinite: only an infinity written as such may be one
        test = (
            f"(regexp_full_match({v}, '{_DECIMAL}') AND {cast} "
            f"AND NOT isinf(TRY_CAST({v} AS {declared.sql})) "
            f"OR regexp_full_match(lower({v}), '{_INFINITY}|[+-]?nan'))"
        )
    elif kind == "boolean":
        test = f"lower({v}) IN ({', '.join(repr(b) for b in _BOOLEAN)})"
    elif kind == "date":
        test = f"regexp_full_match({v}, '{_DATE}') AND {cast}"
    else:
        test = f"regexp_full_match({v}, '{_TIMESTAMP}') AND {cast}"
    return f"({column} IS NULL OR ({test}))"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
