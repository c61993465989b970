"""The result cache: an identical query is answered again with the identical noisy
answer, at no cost, even after a restart.

Identical means the same analyst, the same canonical query (after qualification, so
``select count(*) from MEMBERS`` equals ``SELECT COUNT(*) FROM members``), the same policy
version, the same data version and the same epsilon. Replaying a released answer is
post-processing: it reveals nothing new. Only released (noisy) values are stored. Any
other change, however trivial, is a new query with fresh noise and a new charge.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from fractions import Fraction
from typing import Any

from dpproxy.released import ColumnAccuracy, Released

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    analyst TEXT NOT NULL,
    payload TEXT NOT NULL,
    charge_id INTEGER NOT NULL,
    created_at REAL NOT NULL
)""",
)


def cache_key(
    analyst: str, canonical: str, policy_version: str, data_version: str, epsilon: str
) -> str:
    parts = [analyst, canonical, policy_version, data_version, epsilon]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def answer_payload(released: Released, epsilon: Fraction) -> str:
    """The stored form of a released answer (noisy values only)."""
    return encode(
        {
            "columns": list(released.columns),
            "rows": [list(row) for row in released.rows],
            "accuracy": [a.to_dict() for a in released.accuracy],
            "epsilon": str(epsilon),
        }
    )


def replayed(payload: str) -> Released:
    """The released answer a payload stores, exactly as it was first released."""
    data = decode(payload)
    return Released(
        tuple(data["columns"]),
        [tuple(row) for row in data["rows"]],
        tuple(ColumnAccuracy(**a) for a in data["accuracy"]),
    )


def encode(payload: dict[str, Any]) -> str:
    return json.dumps(payload, default=_tag, sort_keys=True)


def decode(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text, object_hook=_untag)
    return value


def _tag(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$time": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot cache a value of type {type(value).__name__}")


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((tag, text),) = obj.items()
        if tag == "$datetime":
            return dt.datetime.fromisoformat(text)
        if tag == "$date":
            return dt.date.fromisoformat(text)
        if tag == "$time":
            return dt.time.fromisoformat(text)
        if tag == "$decimal":
            return decimal.Decimal(text)
    return obj
