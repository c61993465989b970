"""Read each table's source into the engine's connection, typed as its policy declares.

A column's type must never depend on the values: DuckDB's CSV sniffer would make
``members.age`` DOUBLE because one member is 45.5, and the type is visible for free in
Describe, ``explain`` and ``\\d``. So a CSV file is read as text and each declared column
is cast to its declared type, after a strict check (DuckDB's own casts are lenient:
``'45.5'::BIGINT`` is 46, ``'2024-01-01 12:00'::DATE`` drops the time). A value that
does not fit is a ``PolicyError`` naming the file, the line and the column; columns the
policy does not mention stay VARCHAR (they are hidden anyway). Parquet and DuckDB files
carry a schema: a declared type must match it, or be a lossless widening of it (cast).

Line numbers count the header as line 1, so data row n is line n + 1; a file with blank
lines or quoted line breaks has its later rows further down than that.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from dpproxy.errors import PolicyError
from dpproxy.policy import Policies
from dpproxy.policy.model import ColumnPolicy, ColumnType, CsvSource, DuckDBSource

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


def load(con: duckdb.DuckDBPyConnection, table: str, policies: Policies) -> None:
    """Create ``table`` in ``con`` from its source, each declared column of its type."""
    policy = policies.tables[table]
    path = policies.source_path(table)
    source = policy.source
    declared = {c: p.type for c, p in policy.columns.items() if p.type is not None}
    if isinstance(source, CsvSource):
        _load_csv(con, table, path.name, str(path), policy.columns)
    elif isinstance(source, DuckDBSource):
        alias = _quote(f"src_{table}")
        con.execute(f"ATTACH ? AS {alias} (READ_ONLY)", [str(path)])
        try:
            label = f"{path.name} (table {source.table})"
            _load_typed(con, table, label, f"{alias}.{_quote(source.table)}", [], declared)
        finally:
            con.execute(f"DETACH {alias}")
    else:
        _load_typed(con, table, path.name, "read_parquet(?)", [str(path)], declared)


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


def _load_typed(
    con: duckdb.DuckDBPyConnection,
    table: str,
    label: str,
    relation: str,
    params: list[str],
    declared: Mapping[str, ColumnType],
) -> None:
    """A Parquet or DuckDB table: its schema must agree with the declared types."""
    schema = con.execute(f"DESCRIBE SELECT * FROM {relation}", params).fetchall()
    selected = []
    for name, file_type, *_ in schema:
        want = declared.get(name)
        if want is None or file_type == want.sql:
            selected.append(_quote(name))
        elif file_type in _WIDENINGS.get(want.sql, ()):
            selected.append(f"CAST({_quote(name)} AS {want.sql}) AS {_quote(name)}")
        else:
            raise PolicyError(
                f"{label}: column {name}: the file has type {file_type}, the policy declares "
                f"{want.value} ({want.sql}), and only a lossless widening is cast"
            )
    con.execute(
        f"CREATE TABLE {_quote(table)} AS SELECT {', '.join(selected)} FROM {relation}", params
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
