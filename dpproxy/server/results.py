"""What a statement produces (columns, rows, a command tag, notices) and its wire form.

Every kind of statement (a DP query, the emulated catalog, SET/SHOW) ends in an
``Outcome``; ``row_description`` and ``data_rows`` encode it in the text or binary format
each column was asked for.

>>> outcome = Outcome((Column("n", types.INT8),), [(3,)], "SELECT 1")
>>> data_rows(outcome.columns, outcome.rows, (1,))[0].values
(b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x03',)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dpproxy.errors import InternalError
from dpproxy.server import types
from dpproxy.server.messages import (
    DataRow,
    FieldDescription,
    NoticeResponse,
    ParameterStatus,
    RowDescription,
)
from dpproxy.server.types import PgType


@dataclass(frozen=True)
class Column:
    name: str
    type: PgType


@dataclass(frozen=True)
class Outcome:
    """``columns`` is None for a statement that returns no rows (SET, BEGIN)."""

    columns: tuple[Column, ...] | None
    rows: list[tuple[Any, ...]]
    tag: str
    notices: tuple[NoticeResponse, ...] = ()
    parameter_status: tuple[ParameterStatus, ...] = field(default=())


def result_formats(count: int, requested: Sequence[int]) -> tuple[int, ...]:
    """Bind's result format codes: none means text, one applies to every column."""
    if not requested:
        return (0,) * count
    if len(requested) == 1:
        return (requested[0],) * count
    if len(requested) != count:
        raise InternalError(
            f"bind message has {len(requested)} result formats but query has {count} columns"
        )
    return tuple(requested)


def row_description(columns: Sequence[Column], formats: Sequence[int]) -> RowDescription:
    return RowDescription(
        tuple(
            FieldDescription(
                c.name, c.type.oid, c.type.size, -1, f if types.binary_supported(c.type.oid) else 0
            )
            for c, f in zip(columns, formats, strict=True)
        )
    )


def data_rows(
    columns: Sequence[Column], rows: Sequence[tuple[Any, ...]], formats: Sequence[int]
) -> list[DataRow]:
    encoders = [
        types.encode_binary if f == 1 and types.binary_supported(c.type.oid) else types.encode_text
        for c, f in zip(columns, formats, strict=True)
    ]
    oids = [c.type.oid for c in columns]
    out = []
    for row in rows:
        if len(row) != len(oids):
            raise InternalError("a result row does not match its columns")
        out.append(
            DataRow(
                tuple(
                    encode(oid, _checked(oid, value))
                    for encode, oid, value in zip(encoders, oids, row, strict=True)
                )
            )
        )
    return out


def _checked(oid: int, value: Any) -> Any:
    """An integer column never silently truncates a fractional value."""
    if oid in (types.INT2.oid, types.INT4.oid, types.INT8.oid) and isinstance(value, float):
        if not value.is_integer():
            raise InternalError("an integer column received a fractional value")
        return int(value)
    return value


def command_tag(statement: str, rows: int) -> str:
    return f"{statement} {rows}" if statement == "SELECT" else statement
