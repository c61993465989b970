"""Catalog emulation: answer clients' system-catalog SQL from the policy only.

A statement that names a ``pg_catalog`` or ``information_schema`` relation, or names no
relation at all (``SELECT version()``, ``SELECT current_schema()``), is a catalog
query. It is parsed as PostgreSQL, rewritten to the synthetic catalog of ``pgcatalog``
(``pg_catalog.pg_class`` becomes ``dpc.pg_class``, ``'members'::regclass`` a lookup,
the session's user and database literals), and run on a separate in-memory DuckDB that
holds no data and is locked like the data engine. Functions are allow-listed: anything
not known here is refused, so the catalog connection cannot be used to reach the host.

A catalog query is free (it charges no budget), so its cost is bounded instead: functions
that generate rows are refused before it runs (recursive CTEs; ``generate_series``
unless it counts up to a small constant or along a catalog array, as psql's ``\\d+``
does), the string amplifiers (``repeat``, ``lpad``) take small constant lengths only, and
the server's short time limit for free statements interrupts whatever else runs long.

>>> # CatalogEngine(catalog).run("SELECT relname FROM pg_class", context)
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from dpproxy.errors import QueryRejected, QueryTimeout, Violation
from dpproxy.parse import DIALECT
from dpproxy.policy.catalog import Catalog
from dpproxy.server import pgcatalog, types
from dpproxy.server.errors import ServerError
from dpproxy.server.pgcatalog import SCHEMA, SESSION_COLUMNS, TABLES
from dpproxy.server.results import Column, Outcome
from dpproxy.sqlstate import SQLState

_OPERATOR = re.compile(r"OPERATOR\s*\(\s*pg_catalog\s*\.\s*([~!=<>*+\-/@#%^&|`?]+)\s*\)", re.I)
_SCHEMAS = ("pg_catalog", "information_schema")
_SESSION_FUNCTIONS = {"current_database", "current_catalog", "current_user", "session_user",
                      "user", "current_role", "pg_backend_pid"}  # fmt: skip
# PostgreSQL functions that DuckDB provides under the same name and meaning
_BUILTINS = frozenset(
    [
        "regexp_replace",
        "split_part",
        "string_to_array",
        "array_length",
        "cardinality",
        "position",
        "strpos",
        "left",
        "right",
        "lpad",
        "rpad",
        "ltrim",
        "rtrim",
        "btrim",
        "replace",
        "translate",
        "repeat",
        "reverse",
        "md5",
        "chr",
        "ascii",
        "initcap",
        "now",
        "to_char",
        "date_part",
        "age",
        "abs",
        "round",
        "floor",
        "ceil",
        "greatest",
        "least",
        "nullif",
        "array_position",
        "array_to_string",
        "array_remove",
        "row_number",
        "rank",
        "dense_rank",
        "lag",
        "lead",
        "first_value",
        "last_value",
        "string_agg",
        "array_agg",
        "bool_and",
        "bool_or",
        "every",
        "concat_ws",
        "octet_length",
        "char_length",
        "regexp_matches",
        "regexp_split_to_array",
        "random",
    ]
)
_RENAMED = {"json_build_object": "json_object", "jsonb_build_object": "json_object"}
_TYPE_NAMES = {"int2": "SMALLINT", "int4": "INTEGER", "int8": "BIGINT", "float4": "REAL",
               "float8": "DOUBLE", "bool": "BOOLEAN", "bpchar": "VARCHAR"}  # fmt: skip
_FORBIDDEN = (exp.Create, exp.Insert, exp.Update, exp.Delete, exp.Drop, exp.Command,
              exp.Pragma, exp.Copy, exp.Into)  # fmt: skip
_MACROS = frozenset(m.split("(", 1)[0] for m in pgcatalog.macros())
# Functions whose output grows with a number in their arguments, not with their input
_GENERATORS = (exp.GenerateSeries, exp.ExplodingGenerateSeries, exp.GenerateDateArray,
               exp.GenerateTimestampArray)  # fmt: skip
_AMPLIFIERS: dict[type[exp.Expr], str] = {exp.Repeat: "times", exp.Pad: "expression"}
MAX_TEXT = 10_000  # the longest constant length repeat() and lpad() may ask for
MAX_SERIES = 10_000  # the largest constant bound of generate_series()
_ARRAY_SIZES = frozenset(["array_upper", "array_lower", "array_length", "cardinality"])


@dataclass(frozen=True)
class SessionContext:
    user: str
    database: str
    process_id: int


def is_catalog_query(tree: exp.Expr) -> bool:
    """Names a catalog relation, or no relation at all."""
    tables = list(tree.find_all(exp.Table))
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    named = [t for t in tables if isinstance(t.this, exp.Identifier) and t.name not in ctes]
    if not named:
        return True
    return any(_catalog_name(t) is not None for t in named)


def parse(sql: str) -> exp.Expr:
    """Parse one statement, PostgreSQL dialect (catalog SQL uses OPERATOR(...) syntax)."""
    text = _OPERATOR.sub(lambda m: m.group(1), sql)
    try:
        trees = sqlglot.parse(text, read=DIALECT)
    except (ParseError, TokenError, RecursionError):
        raise QueryRejected([Violation(SQLState.SYNTAX_ERROR, "query", "syntax error")]) from None
    found = [t for t in trees if t is not None]
    if len(found) != 1:
        raise QueryRejected(
            [Violation(SQLState.SYNTAX_ERROR, "query", "exactly one statement is expected")]
        )
    return found[0]


class CatalogEngine:
    """The synthetic catalog database, shared by all connections (read only, locked)."""

    def __init__(self, catalog: Catalog, timeout: float) -> None:
        self.timeout = timeout  # seconds; the server's limit for free statements
        self._lock = threading.Lock()
        self._con = duckdb.connect(
            ":memory:",
            config={
                "autoload_known_extensions": False,
                "autoinstall_known_extensions": False,
                "allow_community_extensions": False,
                "allow_unsigned_extensions": False,
                "python_enable_replacements": False,
                "threads": 1,
                "memory_limit": "256MB",
            },
        )
        pgcatalog.build(catalog, self._con)
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET lock_configuration = true")

    def run(self, tree: exp.Expr, context: SessionContext) -> Outcome:
        sql = translate(tree, context)
        cursor = self._con.cursor()
        timer = threading.Timer(self.timeout, cursor.interrupt)
        timer.daemon = True
        timer.start()
        try:
            rows = cursor.execute(sql).fetchall()
            description = cursor.description or []
        except duckdb.InterruptException:
            raise QueryTimeout(
                "canceling statement due to statement timeout: catalog statements are "
                f"limited to {self.timeout:g} s"
            ) from None
        except duckdb.Error as exc:
            raise _catalog_error(exc) from None
        finally:
            timer.cancel()
            cursor.close()
        columns = tuple(Column(d[0], types.pg_type(str(d[1]))) for d in description)
        return Outcome(columns, [tuple(r) for r in rows], f"SELECT {len(rows)}")

    def close(self) -> None:
        self._con.close()


def _catalog_error(exc: duckdb.Error) -> ServerError:
    first = str(exc).splitlines()[0]
    if isinstance(exc, duckdb.CatalogException):
        return ServerError(SQLState.UNDEFINED_TABLE, f"catalog query: {first}")
    if isinstance(exc, duckdb.BinderException):
        return ServerError(SQLState.UNDEFINED_COLUMN, f"catalog query: {first}")
    return ServerError(SQLState.INTERNAL_ERROR, f"catalog query failed: {first}")


def translate(tree: exp.Expr, context: SessionContext) -> str:
    """The statement rewritten to the synthetic catalog, as DuckDB SQL."""
    if not isinstance(tree, exp.Query) or tree.find(*_FORBIDDEN) is not None:
        raise ServerError(
            SQLState.READ_ONLY_SQL_TRANSACTION, "only SELECT statements can read the catalog"
        )
    _bound_cost(tree)
    tree = tree.copy()
    _name_outputs(tree)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for node in reversed(list(tree.walk())):  # children before their parents
        new = _rewrite(node, context, ctes)
        if new is not node:
            node.replace(new)
    return tree.sql(dialect="duckdb")


def _bound_cost(tree: exp.Expr) -> None:
    """Refuse what would make a free statement expensive regardless of the catalog's size."""
    for node in tree.walk():
        if isinstance(node, _GENERATORS) and not _small_series(node):
            raise _too_costly(
                f"{_call_name(node)}() generates rows: it may count within ±{MAX_SERIES} "
                "or along an array column only"
            )
        if isinstance(node, exp.With) and node.args.get("recursive"):
            raise _too_costly("WITH RECURSIVE generates rows")
        argument = _AMPLIFIERS.get(type(node))  # the length argument of repeat(), lpad()
        if argument is None:
            continue
        length = node.args.get(argument)
        inner = node.this.find(*_AMPLIFIERS) if isinstance(node.this, exp.Expr) else None
        if not (isinstance(length, exp.Literal) and length.is_int) or inner is not None:
            raise _too_costly(f"{_call_name(node)}() needs a constant length")
        if int(length.name) > MAX_TEXT:
            raise _too_costly(f"{_call_name(node)}() is limited to a length of {MAX_TEXT}")


def _small_series(node: exp.Expr) -> bool:
    """``generate_series`` over integers whose bounds are small constants or the
    subscripts of an array column (the catalog holds a few short arrays)."""
    if not isinstance(node, exp.GenerateSeries | exp.ExplodingGenerateSeries):
        return False
    step = node.args.get("step")
    if step is not None and not (isinstance(step, exp.Literal) and step.is_int):
        return False
    return all(_small_bound(node.args.get(end)) for end in ("start", "end"))


def _small_bound(node: object) -> bool:
    if isinstance(node, exp.Dot):  # pg_catalog.array_upper(...)
        node = node.expression
    if isinstance(node, exp.Neg):
        node = node.this
    if isinstance(node, exp.Literal) and node.is_int:
        return abs(int(node.name)) <= MAX_SERIES
    if isinstance(node, exp.ArraySize):
        array = node.this
    elif isinstance(node, exp.Anonymous) and str(node.name).lower() in _ARRAY_SIZES:
        array = node.expressions[0] if node.expressions else None
    else:
        return False
    while isinstance(array, exp.Cast):
        array = array.this
    return isinstance(array, exp.Column)


def _call_name(node: exp.Expr) -> str:
    return node.sql(dialect="postgres").split("(", 1)[0].lower()


def _too_costly(reason: str) -> ServerError:
    return ServerError(
        SQLState.PROGRAM_LIMIT_EXCEEDED,
        f"{reason}: catalog queries are free, so dpproxy bounds their cost",
    )


def _name_outputs(tree: exp.Expr) -> None:
    """Unnamed output columns get PostgreSQL's names (``version``, ``?column?``)."""
    if not isinstance(tree, exp.Select):
        return
    named: list[exp.Expr] = []
    for projection in tree.expressions:
        if isinstance(projection, exp.Alias | exp.Column | exp.Star):
            named.append(projection)
        elif isinstance(projection, exp.Func | exp.Dot):
            named.append(exp.alias_(projection, _output_name(projection), quoted=True))
        elif isinstance(projection, exp.Cast) and isinstance(projection.this, exp.Column):
            named.append(exp.alias_(projection, projection.this.name, quoted=True))
        else:
            named.append(exp.alias_(projection, "?column?", quoted=True))
    tree.set("expressions", named)


def _rewrite(node: exp.Expr, context: SessionContext, ctes: set[str]) -> exp.Expr:
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
        if node.name in ctes and not node.db:
            return node
        return _table(node, context)
    if isinstance(node, exp.Table) and node.args.get("db") is not None:
        node.set("db", None)  # a table function: pg_catalog.generate_series(...)
        return node
    if (
        isinstance(node, exp.Dot)
        and isinstance(node.this, exp.Identifier | exp.Var)
        and node.this.name.lower() in _SCHEMAS
        and isinstance(node.expression, exp.Func)
    ):
        function: exp.Expr = node.expression
        return function
    if isinstance(node, exp.Column) and node.args.get("db") is not None:
        if node.args["db"].name.lower() in _SCHEMAS:
            node.set("db", None)  # pg_catalog.pg_class.relname: the table's alias is enough
        return node
    if isinstance(node, exp.EQ | exp.NEQ):
        return _quantified(node)
    if isinstance(node, exp.Cast):
        return _cast(node)
    if isinstance(node, exp.Collate):
        collated: exp.Expr = node.this
        return collated
    if isinstance(node, exp.CurrentUser | exp.SessionUser):
        return exp.Literal.string(context.user)
    if isinstance(node, exp.Column) and not node.table and node.name in ("user", "current_role"):
        return exp.Literal.string(context.user)
    if isinstance(node, exp.CurrentDatabase | exp.CurrentCatalog):
        return exp.Literal.string(context.database)
    if isinstance(node, exp.CurrentVersion):
        return exp.Literal.string(pgcatalog.VERSION)
    if isinstance(node, exp.CurrentSchema):
        return exp.Literal.string("public")
    if isinstance(node, exp.Func):
        return _function(node, context)
    return node


def _catalog_name(table: exp.Table) -> str | None:
    """The synthetic table behind a catalog relation name, or None."""
    name, schema = table.name.lower(), table.db.lower()
    if schema == "information_schema":
        return f"is_{name}"
    if schema in ("", "pg_catalog") and name.startswith("pg_"):
        return name
    return None


def _table(node: exp.Table, context: SessionContext) -> exp.Expr:
    name = _catalog_name(node)
    if name is None or name not in TABLES:
        shown = ".".join(p for p in (node.db, node.name) if p)
        raise ServerError(SQLState.UNDEFINED_TABLE, f'relation "{shown}" does not exist')
    alias = node.alias or node.name
    if name in SESSION_COLUMNS:
        value = context.database if name == "pg_database" else context.user
        sub = sqlglot.parse_one(
            f"SELECT * REPLACE (x AS {SESSION_COLUMNS[name]}) FROM {SCHEMA}.{name}", read="duckdb"
        )
        sub.find(exp.Column).replace(exp.Literal.string(value))  # type: ignore[union-attr]
        return exp.Subquery(this=sub, alias=exp.TableAlias(this=exp.to_identifier(alias)))
    return exp.Table(
        this=exp.to_identifier(name),
        db=exp.to_identifier(SCHEMA),
        alias=exp.TableAlias(this=exp.to_identifier(alias)),
    )


def _quantified(node: exp.EQ | exp.NEQ) -> exp.Expr:
    """``x = ANY(array)`` and ``x <> ALL(array)`` as DuckDB list membership."""
    right = node.expression
    if isinstance(node, exp.EQ) and isinstance(right, exp.Any):
        values = right.this.unnest() if isinstance(right.this, exp.Paren) else right.this
        return exp.func("list_contains", values.copy(), node.this.copy())
    if (
        isinstance(node, exp.NEQ)
        and isinstance(right, exp.Anonymous)
        and str(right.name).upper() == "ALL"
        and len(right.expressions) == 1
    ):
        contains = exp.func("list_contains", right.expressions[0].copy(), node.this.copy())
        return exp.Not(this=contains)
    return node


def _array_literal(text: str) -> exp.Expr:
    """A PostgreSQL array literal ``'{a,b}'`` as a list of strings."""
    items = [item.strip().strip('"') for item in text[1:-1].split(",") if item.strip()]
    return exp.Array(expressions=[exp.Literal.string(item) for item in items])


def _cast(node: exp.Cast) -> exp.Expr:
    target = node.to.sql(dialect="postgres").lower().replace("pg_catalog.", "").strip('"')
    value = node.this
    literal = isinstance(value, exp.Literal) and value.is_string
    if (
        literal
        and target.endswith("[]")
        and value.name.startswith("{")
        and value.name.endswith("}")
    ):
        return _array_literal(value.name)
    if target in ("regclass", "regtype"):
        function = f"dp_{target}_{'oid' if literal else 'name'}"
        return exp.Anonymous(this=function, expressions=[value.copy()])
    if target in ("regproc", "regprocedure", "regnamespace", "regrole", "regoper"):
        return exp.cast(value, "VARCHAR")
    if target in ("oid", "regclass[]", "xid", "cid", "tid"):
        return value if literal is False else exp.cast(value, "BIGINT")
    if target in ("name", "text", "char", '"char"', "varchar") or "sql_identifier" in target:
        return exp.cast(value, "VARCHAR")
    if target in ("int2vector", "oidvector", "aclitem[]", "text[]", "name[]", "_text"):
        return exp.cast(value, "VARCHAR[]")
    base, array = target.removesuffix("[]"), target.endswith("[]")
    if base in _TYPE_NAMES:
        return exp.cast(value, _TYPE_NAMES[base] + ("[]" if array else ""))
    if "." in target or target.startswith(("information_schema", "cardinal_number")):
        return exp.cast(value, "VARCHAR")
    return node


def _output_name(node: exp.Expr) -> str:
    """PostgreSQL names an unaliased function call after the function."""
    if isinstance(node, exp.Dot):
        node = node.expression
    assert node is not None
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    match = re.match(r"\w+", node.sql(dialect="postgres"))
    return match.group(0).lower() if match else "?column?"


def _function(node: exp.Func, context: SessionContext) -> exp.Expr:
    if not isinstance(node, exp.Anonymous):
        return node  # a function sqlglot knows: standard SQL, translated to DuckDB
    name = str(node.name).lower()
    if name == "all":
        return node  # ``x <> ALL(array)``: rewritten with its comparison (``_quantified``)
    if name in _SESSION_FUNCTIONS:
        if name == "pg_backend_pid":
            return exp.Literal.number(context.process_id)
        return exp.Literal.string(context.database if "catalog" in name or "database" in name
                                  else context.user)  # fmt: skip
    if name in _MACROS:
        return exp.Anonymous(this=f"dp_{name}", expressions=[e.copy() for e in node.expressions])
    if name in _BUILTINS or name in _RENAMED:
        node.set("this", _RENAMED.get(name, name))
        return node
    raise ServerError(
        SQLState.UNDEFINED_FUNCTION, f"function {name}() is not available in dpproxy's catalog"
    )


def first_keyword(sql: str) -> str:
    """The statement's first keyword, upper case ('' for an empty statement)."""
    match = re.match(r"\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*\(*\s*([A-Za-z_]+)", sql, re.S)
    return match.group(1).upper() if match else ""


def empty(sql: str) -> bool:
    return not re.sub(r"--[^\n]*|/\*.*?\*/|;|\s", "", sql, flags=re.S)
