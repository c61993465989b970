"""Released values of exactly the type ``describe`` gives their column, or NULL.

The last step of post-processing. A noisy value is a Python number; post-processing
(CASE, COALESCE, arithmetic on aggregates) may give an int where the column is DOUBLE,
a number past what the column's type holds, a float past REAL's range. Every consumer
after this point (the result cache, the CLI's JSON, the wire protocol's text and binary
encoders) then meets only values of the column's own type and range, so none of them
can fail on a released value. A value that does not fit becomes NULL, as an overflow
does under TRY in the engine; this is post-processing of noisy values, so it cannot
weaken the guarantee.

>>> conform(3, "DOUBLE"), conform(2**70, "BIGINT"), conform(1e300, "REAL")
(3.0, None, None)
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

from dpproxy.policy.catalog import type_kind

_INTEGER_BITS = {"TINYINT": 8, "INT1": 8, "SMALLINT": 16, "INT2": 16, "INT": 32,
                 "INTEGER": 32, "INT4": 32}  # fmt: skip
_REAL = ("FLOAT", "REAL", "FLOAT4")
_REAL_MAX = 3.4028234663852886e38  # the largest finite float32
_NUMBER = (int, float, Decimal, Fraction)


def conform(value: Any, sql_type: str) -> Any:
    """``value`` as the Python value of a ``sql_type`` column, or None. Total."""
    if value is None:
        return None
    try:
        return _conform(value, sql_type.upper())
    except (ArithmeticError, ValueError, TypeError):
        return None


def conform_row(row: tuple[Any, ...], types: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(conform(v, t) for v, t in zip(row, types, strict=True))


def _conform(value: Any, name: str) -> Any:
    kind = type_kind(name)
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "integer":
        return _integer(value, _INTEGER_BITS.get(name, 64))
    if kind == "float":
        number = _float(value)
        if number is not None and name in _REAL and math.isfinite(number):
            return number if abs(number) <= _REAL_MAX else None
        return number
    if kind == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        return value if isinstance(value, dt.date) else None
    if kind == "timestamp":
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=None) if value.tzinfo is None else None
        return dt.datetime.combine(value, dt.time()) if isinstance(value, dt.date) else None
    return _text(value)


def _integer(value: Any, bits: int) -> int | None:
    if isinstance(value, bool):
        value = int(value)
    elif isinstance(value, float | Decimal | Fraction):
        if not math.isfinite(value):
            return None
        value = round(value)
    if not isinstance(value, int):
        return None
    limit = 1 << (bits - 1)
    return value if -limit <= value < limit else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        return None
    return float(value)  # OverflowError (an int past 1e308) is NULL


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int) and value.bit_length() > 4000:  # past int-to-str's limit
        return None
    return str(value)
