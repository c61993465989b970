"""A synthetic ``pg_catalog`` and ``information_schema`` built from the policy alone.

Clients learn what they can query from the system catalog: psql's ``\\dt`` and ``\\d``,
pgjdbc's DatabaseMetaData, DBeaver's navigator. dpproxy answers those queries from a
separate, empty, locked in-memory DuckDB database holding only these tables: every table
of the policy and each column an analyst may use (hidden columns are left out), with
PostgreSQL types, and column comments that say each column's role and bounds. It holds
no row of data and no statistics (``reltuples`` is -1): catalog SQL never reaches the
data engine, and nothing in here depends on data.

Only the columns clients read are present; the table and macro definitions below follow
the PostgreSQL 15 catalog documentation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import duckdb

from dpproxy.policy.catalog import Catalog, ColumnInfo
from dpproxy.policy.model import Role
from dpproxy.server import types

SCHEMA = "dpc"  # the DuckDB schema holding the synthetic catalog
PG_CATALOG, PUBLIC, INFORMATION_SCHEMA = 11, 2200, 13183
FIRST_TABLE_OID = 16385
OWNER_OID = 10
VERSION = "PostgreSQL 15.0 (dpproxy 0.1.0) on a differential privacy proxy"

# table -> column definitions (DuckDB types); every table starts empty
TABLES: dict[str, str] = {
    "pg_namespace": "oid BIGINT, nspname VARCHAR, nspowner BIGINT, nspacl VARCHAR[]",
    "pg_class": (
        "oid BIGINT, relname VARCHAR, relnamespace BIGINT, reltype BIGINT, reloftype BIGINT, "
        "relowner BIGINT, relam BIGINT, relfilenode BIGINT, reltablespace BIGINT, "
        "relpages INTEGER, reltuples REAL, relallvisible INTEGER, reltoastrelid BIGINT, "
        "relhasindex BOOLEAN, relisshared BOOLEAN, relpersistence VARCHAR, relkind VARCHAR, "
        "relnatts SMALLINT, relchecks SMALLINT, relhasrules BOOLEAN, relhastriggers BOOLEAN, "
        "relhassubclass BOOLEAN, relrowsecurity BOOLEAN, relforcerowsecurity BOOLEAN, "
        "relispopulated BOOLEAN, relreplident VARCHAR, relispartition BOOLEAN, "
        "relrewrite BIGINT, relfrozenxid BIGINT, relminmxid BIGINT, relacl VARCHAR[], "
        "reloptions VARCHAR[], relpartbound VARCHAR, relhasoids BOOLEAN"
    ),
    "pg_attribute": (
        "attrelid BIGINT, attname VARCHAR, atttypid BIGINT, attstattarget INTEGER, "
        "attlen SMALLINT, attnum SMALLINT, attndims INTEGER, attcacheoff INTEGER, "
        "atttypmod INTEGER, attbyval BOOLEAN, attstorage VARCHAR, attalign VARCHAR, "
        "attnotnull BOOLEAN, atthasdef BOOLEAN, atthasmissing BOOLEAN, attidentity VARCHAR, "
        "attgenerated VARCHAR, attisdropped BOOLEAN, attislocal BOOLEAN, attinhcount INTEGER, "
        "attcollation BIGINT, attacl VARCHAR[], attoptions VARCHAR[], attfdwoptions VARCHAR[], "
        "attcompression VARCHAR"
    ),
    "pg_type": (
        "oid BIGINT, typname VARCHAR, typnamespace BIGINT, typowner BIGINT, typlen SMALLINT, "
        "typbyval BOOLEAN, typtype VARCHAR, typcategory VARCHAR, typispreferred BOOLEAN, "
        "typisdefined BOOLEAN, typdelim VARCHAR, typrelid BIGINT, typelem BIGINT, "
        "typarray BIGINT, typinput VARCHAR, typoutput VARCHAR, typreceive VARCHAR, "
        "typsend VARCHAR, typalign VARCHAR, typstorage VARCHAR, typnotnull BOOLEAN, "
        "typbasetype BIGINT, typtypmod INTEGER, typndims INTEGER, typcollation BIGINT, "
        "typdefault VARCHAR, typdefaultbin VARCHAR, typacl VARCHAR[]"
    ),
    "pg_description": "objoid BIGINT, classoid BIGINT, objsubid INTEGER, description VARCHAR",
    "pg_attrdef": "oid BIGINT, adrelid BIGINT, adnum SMALLINT, adbin VARCHAR",
    "pg_collation": "oid BIGINT, collname VARCHAR, collnamespace BIGINT, collprovider VARCHAR",
    "pg_am": "oid BIGINT, amname VARCHAR, amhandler VARCHAR, amtype VARCHAR",
    "pg_index": (
        "indexrelid BIGINT, indrelid BIGINT, indnatts SMALLINT, indnkeyatts SMALLINT, "
        "indisunique BOOLEAN, indisprimary BOOLEAN, indisexclusion BOOLEAN, "
        "indimmediate BOOLEAN, indisclustered BOOLEAN, indisvalid BOOLEAN, "
        "indcheckxmin BOOLEAN, indisready BOOLEAN, indislive BOOLEAN, indisreplident BOOLEAN, "
        "indkey SMALLINT[], indcollation BIGINT[], indclass BIGINT[], indoption SMALLINT[], "
        "indexprs VARCHAR, indpred VARCHAR"
    ),
    "pg_constraint": (
        "oid BIGINT, conname VARCHAR, connamespace BIGINT, contype VARCHAR, "
        "condeferrable BOOLEAN, condeferred BOOLEAN, convalidated BOOLEAN, conrelid BIGINT, "
        "contypid BIGINT, conindid BIGINT, conparentid BIGINT, confrelid BIGINT, "
        "confupdtype VARCHAR, confdeltype VARCHAR, confmatchtype VARCHAR, conislocal BOOLEAN, "
        "coninhcount INTEGER, connoinherit BOOLEAN, conkey SMALLINT[], confkey SMALLINT[], "
        "conbin VARCHAR"
    ),
    "pg_inherits": "inhrelid BIGINT, inhparent BIGINT, inhseqno INTEGER, inhdetachpending BOOLEAN",
    "pg_trigger": (
        "oid BIGINT, tgrelid BIGINT, tgparentid BIGINT, tgname VARCHAR, tgfoid BIGINT, "
        "tgtype SMALLINT, tgenabled VARCHAR, tgisinternal BOOLEAN, tgconstraint BIGINT"
    ),
    "pg_policy": (
        "oid BIGINT, polname VARCHAR, polrelid BIGINT, polcmd VARCHAR, polpermissive BOOLEAN, "
        "polroles BIGINT[], polqual VARCHAR, polwithcheck VARCHAR"
    ),
    "pg_statistic_ext": (
        "oid BIGINT, stxrelid BIGINT, stxname VARCHAR, stxnamespace BIGINT, stxowner BIGINT, "
        "stxstattarget INTEGER, stxkeys SMALLINT[], stxkind VARCHAR[], stxexprs VARCHAR"
    ),
    "pg_publication": (
        "oid BIGINT, pubname VARCHAR, pubowner BIGINT, puballtables BOOLEAN, "
        "pubinsert BOOLEAN, pubupdate BOOLEAN, pubdelete BOOLEAN, pubtruncate BOOLEAN, "
        "pubviaroot BOOLEAN"
    ),
    "pg_publication_rel": "oid BIGINT, prpubid BIGINT, prrelid BIGINT, prqual VARCHAR, "
    "prattrs SMALLINT[]",
    "pg_publication_namespace": "oid BIGINT, pnpubid BIGINT, pnnspid BIGINT",
    "pg_database": (
        "oid BIGINT, datname VARCHAR, datdba BIGINT, encoding INTEGER, datcollate VARCHAR, "
        "datctype VARCHAR, datistemplate BOOLEAN, datallowconn BOOLEAN, datconnlimit INTEGER, "
        "dattablespace BIGINT, datacl VARCHAR[], datlocprovider VARCHAR, daticulocale VARCHAR"
    ),
    "pg_roles": (
        "oid BIGINT, rolname VARCHAR, rolsuper BOOLEAN, rolinherit BOOLEAN, "
        "rolcreaterole BOOLEAN, rolcreatedb BOOLEAN, rolcanlogin BOOLEAN, "
        "rolreplication BOOLEAN, rolconnlimit INTEGER, rolvaliduntil TIMESTAMP, "
        "rolbypassrls BOOLEAN, rolconfig VARCHAR[]"
    ),
    "pg_user": "usename VARCHAR, usesysid BIGINT, usecreatedb BOOLEAN, usesuper BOOLEAN",
    "pg_tablespace": "oid BIGINT, spcname VARCHAR, spcowner BIGINT",
    "pg_settings": "name VARCHAR, setting VARCHAR, unit VARCHAR, category VARCHAR, "
    "short_desc VARCHAR, vartype VARCHAR",
    "pg_tables": (
        "schemaname VARCHAR, tablename VARCHAR, tableowner VARCHAR, tablespace VARCHAR, "
        "hasindexes BOOLEAN, hasrules BOOLEAN, hastriggers BOOLEAN, rowsecurity BOOLEAN"
    ),
    "pg_views": "schemaname VARCHAR, viewname VARCHAR, viewowner VARCHAR, definition VARCHAR",
    "pg_matviews": "schemaname VARCHAR, matviewname VARCHAR, matviewowner VARCHAR, "
    "definition VARCHAR",
    "pg_indexes": "schemaname VARCHAR, tablename VARCHAR, indexname VARCHAR, "
    "tablespace VARCHAR, indexdef VARCHAR",
    "pg_proc": (
        "oid BIGINT, proname VARCHAR, pronamespace BIGINT, proowner BIGINT, prolang BIGINT, "
        "prokind VARCHAR, proretset BOOLEAN, prorettype BIGINT, proargtypes BIGINT[], "
        "proargnames VARCHAR[], prosrc VARCHAR"
    ),
    "pg_extension": "oid BIGINT, extname VARCHAR, extowner BIGINT, extnamespace BIGINT, "
    "extversion VARCHAR",
    "pg_enum": "oid BIGINT, enumtypid BIGINT, enumsortorder REAL, enumlabel VARCHAR",
    "pg_depend": "classid BIGINT, objid BIGINT, objsubid INTEGER, refclassid BIGINT, "
    "refobjid BIGINT, refobjsubid INTEGER, deptype VARCHAR",
    "pg_sequence": "seqrelid BIGINT, seqtypid BIGINT, seqstart BIGINT, seqincrement BIGINT, "
    "seqmax BIGINT, seqmin BIGINT, seqcache BIGINT, seqcycle BOOLEAN",
    "pg_language": "oid BIGINT, lanname VARCHAR",
    "pg_foreign_table": "ftrelid BIGINT, ftserver BIGINT, ftoptions VARCHAR[]",
    "pg_foreign_server": "oid BIGINT, srvname VARCHAR",
    "pg_event_trigger": "oid BIGINT, evtname VARCHAR",
    "pg_rewrite": "oid BIGINT, rulename VARCHAR, ev_class BIGINT",
    "pg_shdescription": "objoid BIGINT, classoid BIGINT, description VARCHAR",
    "pg_stat_activity": "datname VARCHAR, pid INTEGER, usename VARCHAR, "
    "application_name VARCHAR, state VARCHAR, query VARCHAR",
    "pg_locks": "locktype VARCHAR, pid INTEGER, mode VARCHAR, granted BOOLEAN",
    "pg_range": "rngtypid BIGINT, rngsubtype BIGINT",
    "pg_operator": "oid BIGINT, oprname VARCHAR",
    "pg_opclass": "oid BIGINT, opcname VARCHAR",
    "pg_aggregate": "aggfnoid BIGINT",
    "pg_cast": "oid BIGINT, castsource BIGINT, casttarget BIGINT",
    "pg_auth_members": "roleid BIGINT, member BIGINT",
    # information_schema, stored under an is_ prefix
    "is_schemata": "catalog_name VARCHAR, schema_name VARCHAR, schema_owner VARCHAR",
    "is_tables": (
        "table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, "
        "table_type VARCHAR, is_insertable_into VARCHAR, is_typed VARCHAR"
    ),
    "is_columns": (
        "table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, "
        "column_name VARCHAR, ordinal_position INTEGER, column_default VARCHAR, "
        "is_nullable VARCHAR, data_type VARCHAR, character_maximum_length INTEGER, "
        "numeric_precision INTEGER, numeric_scale INTEGER, datetime_precision INTEGER, "
        "udt_schema VARCHAR, udt_name VARCHAR, is_identity VARCHAR, is_generated VARCHAR, "
        "is_updatable VARCHAR"
    ),
    "is_views": "table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, "
    "view_definition VARCHAR",
    "is_table_constraints": "constraint_catalog VARCHAR, constraint_schema VARCHAR, "
    "constraint_name VARCHAR, table_schema VARCHAR, table_name VARCHAR, constraint_type VARCHAR",
    "is_key_column_usage": "constraint_schema VARCHAR, constraint_name VARCHAR, "
    "table_schema VARCHAR, table_name VARCHAR, column_name VARCHAR, ordinal_position INTEGER",
    "is_routines": "routine_schema VARCHAR, routine_name VARCHAR, routine_type VARCHAR",
}
SESSION_COLUMNS = {"pg_database": "datname", "pg_roles": "rolname", "pg_user": "usename"}


def build(catalog: Catalog, connection: duckdb.DuckDBPyConnection) -> None:
    """Create and fill the synthetic catalog in ``connection`` (empty, unlocked)."""
    connection.execute(f"CREATE SCHEMA {SCHEMA}")
    for table, columns in TABLES.items():
        connection.execute(f"CREATE TABLE {SCHEMA}.{table} ({columns})")
    for table, rows in _rows(catalog):
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            connection.executemany(f"INSERT INTO {SCHEMA}.{table} VALUES ({marks})", rows)
    for macro in macros():
        connection.execute(f"CREATE MACRO dp_{macro}")


def table_oids(catalog: Catalog) -> dict[str, int]:
    return {name: FIRST_TABLE_OID + i for i, name in enumerate(sorted(catalog.tables))}


def visible_columns(catalog: Catalog, table: str) -> list[ColumnInfo]:
    """The columns an analyst may use, in data order: everything but hidden ones."""
    return [c for c in catalog.tables[table].columns.values() if not c.has(Role.HIDDEN)]


def _rows(catalog: Catalog) -> Iterator[tuple[str, Sequence[tuple[Any, ...]]]]:
    yield "pg_namespace", [(PG_CATALOG, "pg_catalog", OWNER_OID, None),
                           (PUBLIC, "public", OWNER_OID, None),
                           (INFORMATION_SCHEMA, "information_schema", OWNER_OID, None)]  # fmt: skip
    yield "pg_type", [_type_row(t) for t in types.ALL]
    yield "pg_am", [(2, "heap", "heap_tableam_handler", "t"), (403, "btree", "bthandler", "i")]
    yield "pg_collation", [(100, "default", PG_CATALOG, "d")]
    yield (
        "pg_database",
        [(16384, "", OWNER_OID, 6, "C", "C", False, True, -1, 1663, None, "c", None)],
    )
    yield "pg_roles", [(OWNER_OID + 1, "", False, True, False, False, True, False, -1, None,
                        False, None)]  # fmt: skip
    yield "pg_user", [("", OWNER_OID + 1, False, False)]
    yield "pg_tablespace", [(1663, "pg_default", OWNER_OID)]
    yield "pg_language", [(12, "internal"), (13, "c"), (14, "sql")]
    yield "is_schemata", [("dpproxy", "public", "dpproxy")]
    classes, attributes, descriptions, tables, is_tables, is_columns = [], [], [], [], [], []
    for name, oid in table_oids(catalog).items():
        info = catalog.tables[name]
        columns = visible_columns(catalog, name)
        classes.append(_class_row(oid, name, len(columns)))
        tables.append(("public", name, "dpproxy", None, False, False, False, False))
        is_tables.append(("dpproxy", "public", name, "BASE TABLE", "NO", "NO"))
        descriptions.append((oid, 1259, 0, _table_comment(info.policy.description, info)))
        for number, column in enumerate(columns, start=1):
            pg = types.pg_type(column.sql_type)
            attributes.append(_attribute_row(oid, column.name, pg, number))
            descriptions.append((oid, 1259, number, column_comment(column)))
            is_columns.append(_is_column_row(name, column.name, number, pg))
    yield "pg_class", classes
    yield "pg_attribute", attributes
    yield "pg_description", descriptions
    yield "pg_tables", tables
    yield "is_tables", is_tables
    yield "is_columns", is_columns


def _type_row(t: types.PgType) -> tuple[Any, ...]:
    element = types.TEXT.oid if t is types.TEXT_ARRAY else 0
    array = types.TEXT_ARRAY.oid if t is types.TEXT else 0
    by_value = t.size in (1, 2, 4, 8) and t.oid != types.NAME.oid
    return (t.oid, t.typname, PG_CATALOG, OWNER_OID, t.size, by_value, "b", t.category, False,
            True, ",", 0, element, array, f"{t.typname}in", f"{t.typname}out",
            f"{t.typname}recv", f"{t.typname}send", "i", "p", False, 0, -1, 0,
            100 if t.category == "S" else 0, None, None, None)  # fmt: skip


def _class_row(oid: int, name: str, columns: int) -> tuple[Any, ...]:
    return (oid, name, PUBLIC, 0, 0, OWNER_OID, 2, oid, 0, 0, -1.0, 0, 0, False, False, "p",
            "r", columns, 0, False, False, False, False, False, True, "d", False, 0, 0, 0,
            None, None, None, False)  # fmt: skip


def _attribute_row(table: int, name: str, pg: types.PgType, number: int) -> tuple[Any, ...]:
    return (table, name, pg.oid, -1, pg.size, number, 0, -1, -1, pg.size in (1, 2, 4, 8), "p",
            "i", False, False, False, "", "", False, True, 0, 100 if pg.category == "S" else 0,
            None, None, None, "")  # fmt: skip


def _is_column_row(table: str, name: str, number: int, pg: types.PgType) -> tuple[Any, ...]:
    return ("dpproxy", "public", table, name, number, None, "YES", pg.name, None, None, None,
            None, "pg_catalog", pg.typname, "NO", "NEVER", "NO")  # fmt: skip


def column_comment(column: ColumnInfo) -> str:
    """What an analyst may do with a column, shown by ``\\d+`` and SQL tools."""
    parts = []
    if column.has(Role.PRIVACY_UNIT):
        parts.append("privacy unit: only COUNT(DISTINCT ...)")
    if column.has(Role.DIMENSION):
        parts.append("dimension" + (" (public values)" if column.public_values else ""))
    if column.has(Role.MEASURE) and column.bounds is not None:
        lo, hi = column.bounds
        parts.append(f"measure clamped to [{float(lo):g}, {float(hi):g}]")
    if column.has(Role.JOIN_KEY):
        parts.append("join key")
    return "; ".join(parts)


def _table_comment(description: str | None, info: Any) -> str:
    if info.public:
        kind = "public table"
    elif info.row_level:
        kind = "row-level privacy"
    else:
        kind = f"privacy unit {info.privacy_unit}"
    return f"{description} ({kind})" if description else kind


SYSTEM_OIDS = {"pg_class": 1259, "pg_type": 1247, "pg_attribute": 1249, "pg_proc": 1255,
               "pg_namespace": 2615, "pg_constraint": 2606, "pg_database": 1262,
               "pg_description": 2609, "pg_index": 2610, "pg_trigger": 2620}  # fmt: skip


def macros() -> list[str]:
    """PostgreSQL catalog functions; created as ``dp_<name>`` so no DuckDB function
    of the same name is ever called instead. (A table of definitions, one per line: long
    by nature, nothing to read in order.)"""
    format_type = " ".join(f"WHEN {t.oid} THEN '{t.name}'" for t in types.ALL)
    yes = "true"
    return [
        "pg_table_is_visible(o) AS true",
        "pg_type_is_visible(o) AS true",
        "pg_function_is_visible(o) AS true",
        "pg_collation_is_visible(o) AS true",
        f"format_type(t, m) AS CASE t {format_type} ELSE NULL END",
        "pg_get_userbyid(u) AS 'dpproxy'",
        "pg_get_expr(e, r) AS NULL, (e, r, p) AS NULL",
        f"obj_description(o) AS (SELECT dp_d.description FROM {SCHEMA}.pg_description dp_d "
        "WHERE dp_d.objoid = o AND dp_d.objsubid = 0 LIMIT 1), "
        f"(o, c) AS (SELECT dp_d.description FROM {SCHEMA}.pg_description dp_d "
        "WHERE dp_d.objoid = o AND dp_d.objsubid = 0 LIMIT 1)",
        f"col_description(o, n) AS (SELECT dp_d.description FROM {SCHEMA}.pg_description "
        "dp_d WHERE dp_d.objoid = o AND dp_d.objsubid = n LIMIT 1)",
        "shobj_description(o, c) AS NULL",
        "pg_get_constraintdef(o) AS NULL, (o, p) AS NULL",
        "pg_get_indexdef(o) AS NULL, (o, n, p) AS NULL",
        "pg_get_viewdef(o) AS NULL, (o, p) AS NULL",
        "pg_get_triggerdef(o) AS NULL, (o, p) AS NULL",
        "pg_get_partkeydef(o) AS NULL",
        "pg_get_function_result(o) AS NULL",
        "pg_get_function_arguments(o) AS NULL",
        "pg_get_serial_sequence(t, c) AS NULL",
        "pg_get_statisticsobjdef_columns(o) AS NULL",
        "pg_relation_is_publishable(o) AS false",
        "pg_encoding_to_char(e) AS 'UTF8'",
        "pg_client_encoding() AS 'UTF8'",
        "pg_is_in_recovery() AS false",
        f"has_table_privilege(a, b) AS {yes}, (a, b, c) AS {yes}",
        f"has_schema_privilege(a, b) AS {yes}, (a, b, c) AS {yes}",
        f"has_database_privilege(a, b) AS {yes}, (a, b, c) AS {yes}",
        f"has_column_privilege(a, b, c) AS {yes}, (a, b, c, d) AS {yes}",
        f"has_any_column_privilege(a, b) AS {yes}, (a, b, c) AS {yes}",
        f"pg_has_role(a, b) AS {yes}, (a, b, c) AS {yes}",
        "current_schema() AS 'public'",
        "current_schemas(implicit) AS CASE WHEN implicit THEN ['pg_catalog', 'public'] "
        "ELSE ['public'] END",
        f"version() AS '{VERSION}'",
        "pg_postmaster_start_time() AS TIMESTAMP '2000-01-01 00:00:00'",
        "pg_relation_size(o) AS 0, (o, f) AS 0",
        "pg_total_relation_size(o) AS 0",
        "pg_table_size(o) AS 0",
        "pg_indexes_size(o) AS 0",
        "pg_size_pretty(n) AS '0 bytes'",
        "pg_tablespace_location(o) AS ''",
        "txid_current() AS 1",
        "array_upper(a, d) AS len(a)",
        "array_lower(a, d) AS 1",
        f"to_regclass(n) AS (SELECT dp_c.oid FROM {SCHEMA}.pg_class dp_c WHERE dp_c.relname = n)",
        f"to_regtype(n) AS (SELECT dp_t.oid FROM {SCHEMA}.pg_type dp_t WHERE dp_t.typname = n)",
        f"to_regnamespace(n) AS (SELECT dp_n.oid FROM {SCHEMA}.pg_namespace dp_n "
        "WHERE dp_n.nspname = n)",
        "quote_ident(s) AS CASE WHEN regexp_full_match(s, '[a-z_][a-z0-9_$]*') THEN s "
        "ELSE '\"' || replace(s, '\"', '\"\"') || '\"' END",
        "relation_name(n) AS regexp_replace(replace(CAST(n AS VARCHAR), '\"', ''), "
        "'^(public|pg_catalog)\\.', '')",
        f"regclass_oid(n) AS coalesce((SELECT dp_c.oid FROM {SCHEMA}.pg_class dp_c WHERE "
        "dp_c.relname = dp_relation_name(n)), "
        f"MAP {_duckdb_map(SYSTEM_OIDS)}[dp_relation_name(n)])",
        f"regclass_name(o) AS coalesce((SELECT dp_c.relname FROM {SCHEMA}.pg_class dp_c "
        "WHERE dp_c.oid = o), CAST(o AS VARCHAR))",
        f"regtype_oid(n) AS (SELECT dp_t.oid FROM {SCHEMA}.pg_type dp_t WHERE dp_t.typname = n)",
        "regtype_name(o) AS coalesce(dp_format_type(o, NULL), CAST(o AS VARCHAR))",
        "pg_get_keywords() AS TABLE SELECT * FROM (VALUES ('all', 'R', 'reserved'), "
        "('select', 'R', 'reserved')) AS k(word, catcode, catdesc)",
    ]


def _duckdb_map(mapping: dict[str, int]) -> str:
    return "{" + ", ".join(f"'{k}': {v}" for k, v in mapping.items()) + "}"
