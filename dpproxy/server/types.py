"""PostgreSQL types on the wire: OIDs, and values in text and binary format.

dpproxy releases a handful of types (the DuckDB names ``Session.describe`` reports):
BIGINT, DOUBLE, VARCHAR, DATE, TIMESTAMP, BOOLEAN, plus what casts and the emulated
catalog produce. Each maps to one built-in PostgreSQL type, so clients never need to
look a type up (asyncpg would query ``pg_type`` for an OID it does not know).

>>> pg_type("BIGINT").oid, encode_text(20, 42), encode_binary(20, 42)
(20, b'42', b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00*')
>>> decode_param(23, 0, b"7")
7
"""

from __future__ import annotations

import datetime
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dpproxy.errors import DPProxyError
from dpproxy.sqlstate import SQLState


class InvalidParameterValue(DPProxyError):
    """A bound parameter cannot be read as its declared type."""

    sqlstate = SQLState.INVALID_TEXT_REPRESENTATION  # invalid_text_representation


@dataclass(frozen=True)
class PgType:
    name: str  # PostgreSQL's name, as format_type prints it
    oid: int
    size: int  # typlen: -1 for variable length
    typname: str  # the pg_type name
    category: str  # pg_type.typcategory


BOOL = PgType("boolean", 16, 1, "bool", "B")
BYTEA = PgType("bytea", 17, -1, "bytea", "U")
CHAR = PgType('"char"', 18, 1, "char", "Z")
NAME = PgType("name", 19, 64, "name", "S")
INT8 = PgType("bigint", 20, 8, "int8", "N")
INT2 = PgType("smallint", 21, 2, "int2", "N")
INT4 = PgType("integer", 23, 4, "int4", "N")
TEXT = PgType("text", 25, -1, "text", "S")
OID = PgType("oid", 26, 4, "oid", "N")
FLOAT4 = PgType("real", 700, 4, "float4", "N")
FLOAT8 = PgType("double precision", 701, 8, "float8", "N")
VARCHAR = PgType("character varying", 1043, -1, "varchar", "S")
DATE = PgType("date", 1082, 4, "date", "D")
TIMESTAMP = PgType("timestamp without time zone", 1114, 8, "timestamp", "D")
TIMESTAMPTZ = PgType("timestamp with time zone", 1184, 8, "timestamptz", "D")
NUMERIC = PgType("numeric", 1700, -1, "numeric", "N")
TEXT_ARRAY = PgType("text[]", 1009, -1, "_text", "A")
ALL = (BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT4, TEXT, OID, FLOAT4, FLOAT8, VARCHAR, DATE,
       TIMESTAMP, TIMESTAMPTZ, NUMERIC, TEXT_ARRAY)  # fmt: skip
BY_OID = {t.oid: t for t in ALL}

_DUCKDB = {
    "BOOLEAN": BOOL, "TINYINT": INT2, "SMALLINT": INT2, "INTEGER": INT4, "BIGINT": INT8,
    "UTINYINT": INT2, "USMALLINT": INT4, "UINTEGER": INT8, "HUGEINT": NUMERIC,
    "UBIGINT": NUMERIC, "UHUGEINT": NUMERIC, "FLOAT": FLOAT4, "REAL": FLOAT4,
    "DOUBLE": FLOAT8, "VARCHAR": TEXT, "TEXT": TEXT, "DATE": DATE, "TIMESTAMP": TIMESTAMP,
    "TIMESTAMP WITH TIME ZONE": TIMESTAMPTZ, "BLOB": BYTEA, "VARCHAR[]": TEXT_ARRAY,
}  # fmt: skip


def pg_type(duckdb_type: str) -> PgType:
    """The PostgreSQL type a DuckDB type is sent as (DECIMAL as double precision)."""
    name = duckdb_type.upper().strip()
    if name in _DUCKDB:
        return _DUCKDB[name]
    if name.startswith(("DECIMAL", "NUMERIC")):
        return FLOAT8
    if name.startswith("VARCHAR"):
        return TEXT
    if name.startswith("TIMESTAMP"):
        return TIMESTAMP
    if name.endswith("[]"):
        return TEXT_ARRAY
    return TEXT


# ---------------------------------------------------------------------------------------
# Results: Python values to bytes

_EPOCH_DATE = datetime.date(2000, 1, 1)
_EPOCH = datetime.datetime(2000, 1, 1)
_EPOCH_TZ = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_PACK: dict[int, Callable[..., bytes]] = {
    INT2.oid: struct.Struct("!h").pack,
    INT4.oid: struct.Struct("!i").pack,
    INT8.oid: struct.Struct("!q").pack,
    OID.oid: struct.Struct("!I").pack,
    FLOAT4.oid: struct.Struct("!f").pack,
    FLOAT8.oid: struct.Struct("!d").pack,
}
_ARRAY_HEADER = struct.Struct("!iiIii")  # ndim, has nulls, element oid, length, lower bound
_LENGTH = struct.Struct("!i")


def encode_text(oid: int, value: Any) -> bytes | None:
    """``value`` in PostgreSQL's text output format for type ``oid``."""
    if value is None:
        return None
    return _text(oid, value).encode("utf-8")


def _text(oid: int, value: Any) -> str:
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        text = repr(value)  # shortest round-trip form, as PostgreSQL 12+ prints float8
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, list | tuple):
        return "{" + ",".join(_array_item(v) for v in value) + "}"
    if oid == BOOL.oid and isinstance(value, str):
        return "t" if value.lower() in ("t", "true", "1") else "f"
    return str(value)


def _array_item(value: Any) -> str:
    if value is None:
        return "NULL"
    text = _text(TEXT.oid, value)
    if text == "" or re.search(r'[{},"\\\s]', text) or text.upper() == "NULL":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def encode_binary(oid: int, value: Any) -> bytes | None:
    """``value`` in PostgreSQL's binary format for type ``oid``."""
    if value is None:
        return None
    pack = _PACK.get(oid)
    if pack is not None:
        if oid in (FLOAT4.oid, FLOAT8.oid):
            return pack(float(value))
        return pack(int(value))
    if oid == BOOL.oid:
        return b"\x01" if _text(oid, value) == "t" else b"\x00"
    if oid == DATE.oid:
        return _PACK[INT4.oid]((value - _EPOCH_DATE).days)
    if oid in (TIMESTAMP.oid, TIMESTAMPTZ.oid):
        epoch = _EPOCH_TZ if value.tzinfo is not None else _EPOCH
        delta = value - epoch
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return _PACK[INT8.oid](micros)
    if oid == TEXT_ARRAY.oid:
        return _text_array(value)
    if oid == BYTEA.oid and isinstance(value, bytes | bytearray):
        return bytes(value)
    if oid == NUMERIC.oid:
        raise InvalidParameterValue("numeric values are sent in text format only")
    return _text(oid, value).encode("utf-8")


def _text_array(values: list[Any]) -> bytes:
    if not values:
        return struct.pack("!iiI", 0, 0, TEXT.oid)
    has_nulls = any(v is None for v in values)
    parts = [_ARRAY_HEADER.pack(1, int(has_nulls), TEXT.oid, len(values), 1)]
    for value in values:
        if value is None:
            parts.append(_LENGTH.pack(-1))
        else:
            data = _text(TEXT.oid, value).encode("utf-8")
            parts += [_LENGTH.pack(len(data)), data]
    return b"".join(parts)


def binary_supported(oid: int) -> bool:
    return oid != NUMERIC.oid


# ---------------------------------------------------------------------------------------
# Parameters: bytes to Python values

_UNPACK: dict[int, Callable[[bytes], tuple[Any, ...]]] = {
    INT2.oid: struct.Struct("!h").unpack,
    INT4.oid: struct.Struct("!i").unpack,
    INT8.oid: struct.Struct("!q").unpack,
    OID.oid: struct.Struct("!I").unpack,
    FLOAT4.oid: struct.Struct("!f").unpack,
    FLOAT8.oid: struct.Struct("!d").unpack,
}
_INTEGERS = (INT2.oid, INT4.oid, INT8.oid, OID.oid)


def decode_param(oid: int, fmt: int, data: bytes | None) -> Any:
    """One Bind parameter as a Python value (None, bool, int, float, str, date, datetime)."""
    if data is None:
        return None
    try:
        return _decode_binary(oid, data) if fmt == 1 else _decode_text(oid, data.decode())
    except (ValueError, struct.error, UnicodeDecodeError, OverflowError):
        name = BY_OID[oid].name if oid in BY_OID else f"type {oid}"
        raise InvalidParameterValue(f"invalid input for a parameter of type {name}") from None


def _decode_text(oid: int, text: str) -> Any:
    if oid in _INTEGERS:
        return int(text)
    if oid in (FLOAT4.oid, FLOAT8.oid, NUMERIC.oid):
        value = float(Decimal(text)) if oid == NUMERIC.oid else float(text)
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return value
    if oid == BOOL.oid:
        lowered = text.strip().lower()
        if lowered in ("t", "true", "yes", "on", "1"):
            return True
        if lowered in ("f", "false", "no", "off", "0"):
            return False
        raise ValueError("not a boolean")
    if oid == DATE.oid:
        return datetime.date.fromisoformat(text.strip())
    if oid in (TIMESTAMP.oid, TIMESTAMPTZ.oid):
        return datetime.datetime.fromisoformat(text.strip())
    if oid == BYTEA.oid:
        raise ValueError("bytea parameters are not supported")
    return text


def _decode_binary(oid: int, data: bytes) -> Any:
    unpack = _UNPACK.get(oid)
    if unpack is not None:
        value = unpack(data)[0]
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("not a finite number")
        return value
    if oid == BOOL.oid:
        if len(data) != 1:
            raise ValueError("bad boolean")
        return data != b"\x00"
    if oid == DATE.oid:
        return _EPOCH_DATE + datetime.timedelta(days=_UNPACK[INT4.oid](data)[0])
    if oid in (TIMESTAMP.oid, TIMESTAMPTZ.oid):
        moment = _EPOCH + datetime.timedelta(microseconds=_UNPACK[INT8.oid](data)[0])
        return moment.replace(tzinfo=datetime.UTC) if oid == TIMESTAMPTZ.oid else moment
    if oid in (TEXT.oid, VARCHAR.oid, NAME.oid, CHAR.oid, 0, 705):
        return data.decode("utf-8")
    raise ValueError(f"binary format of type {oid} is not supported")
