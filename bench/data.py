"""The benchmark data: the sample schema scaled to 1M and 10M purchase rows, as Parquet.

The shapes are those of ``sample_data/generate.py`` (same cities, products, prices,
popularity, age and spend distributions, 'A Very Small Town' with 20 members, eight
extreme spenders, one heavy user in 400 with 200-900 purchases), drawn with numpy
vectors instead of a Python loop per row, so 10M rows take seconds rather than minutes.
The purchase count is made exact by topping up or trimming uniformly chosen rows.
The same size always gives the same bytes (seeded generator, pinned numpy and pyarrow);
a manifest records what was written, and files are reused while it matches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sample_data import generate as sample

DATA_DIR = Path(__file__).parent / "data"
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class Size:
    name: str
    members: int
    purchases: int

    @property
    def directory(self) -> Path:
        return DATA_DIR / self.name


SIZES = {
    "100k": Size("100k", 10_000, 100_000),  # for a quick run (`python -m bench --quick`)
    "1m": Size("1m", 100_000, 1_000_000),
    "10m": Size("10m", 1_000_000, 10_000_000),
}


def ensure(size: Size) -> Path:
    """Write the Parquet files of ``size`` unless an identical set is already there."""
    out = size.directory
    manifest = out / "manifest.json"
    wanted = {
        "generator": GENERATOR_VERSION,
        "seed": sample.SEED,
        "members": size.members,
        "purchases": size.purchases,
    }
    if manifest.exists() and json.loads(manifest.read_text()) == wanted:
        return out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([sample.SEED, size.members, size.purchases])
    members = _members(rng, size.members)
    _write(out / "members.parquet", members)
    _write(out / "purchases.parquet", _purchases(rng, members["loyalty_number"], size.purchases))
    _write(out / "products.parquet", _products())
    manifest.write_text(json.dumps(wanted, indent=2) + "\n")
    return out


def _members(rng: np.random.Generator, n: int) -> dict[str, Any]:
    ids = rng.permutation(np.arange(100_000, 100_000 + 10 * n, 10, dtype=np.int64))[:n]
    weights = 1.0 / np.arange(1, len(sample.CITIES) + 1) ** 0.8
    cities = [*sample.CITIES, sample.SMALL_TOWN]
    city = rng.choice(len(sample.CITIES), size=n, p=weights / weights.sum())
    city[rng.choice(n, size=sample.SMALL_TOWN_SIZE, replace=False)] = len(sample.CITIES)
    age = np.clip(rng.normal(44, 15, size=n).round(), 18, 95).astype(np.int64)
    spend = np.round(rng.lognormal(mean=7.0, sigma=0.8, size=n), 2)
    spend[rng.choice(n, size=8, replace=False)] = np.round(rng.uniform(250_000, 2_000_000, 8), 2)
    return {
        "loyalty_number": ids,
        "city": (city, cities),
        "marital_status": (
            rng.choice(len(sample.MARITAL), size=n, p=sample.MARITAL_P),
            sample.MARITAL,
        ),
        "education": (
            rng.choice(len(sample.EDUCATION), size=n, p=sample.EDUCATION_P),
            sample.EDUCATION,
        ),
        "gender": (rng.choice(len(sample.GENDER), size=n, p=sample.GENDER_P), sample.GENDER),
        "age": age,
        "annual_spend": spend,
    }


def _purchases(rng: np.random.Generator, ids: np.ndarray[Any, Any], target: int) -> dict[str, Any]:
    n = len(ids)
    heavy = max(10, n // 400)
    counts = rng.geometric(p=n / (target * 0.84), size=n)
    counts[rng.choice(n, size=heavy, replace=False)] = rng.integers(200, 900, size=heavy)
    member = np.repeat(ids, counts)
    if len(member) < target:  # top up with uniformly chosen members
        member = np.concatenate([member, ids[rng.integers(0, n, size=target - len(member))]])
    member = member[rng.permutation(len(member))][:target]  # trim uniformly, shuffle
    popularity = np.array([9, 8, 7, 4, 5, 4, 7, 5, 5, 4, 3, 3, 1.5, 0.8, 0.2, 0.05])
    product = rng.choice(len(sample.PRODUCTS), size=target, p=popularity / popularity.sum())
    quantity = rng.integers(1, 4, size=target)
    prices = np.array([p[2] for p in sample.PRODUCTS])
    seconds = rng.integers(0, 366 * 86_400, size=target)
    ts = np.datetime64("2024-01-01T00:00:00", "s") + seconds.astype("timedelta64[s]")
    return {
        "loyalty_number": member,
        "product": (product, [p[0] for p in sample.PRODUCTS]),
        "amount": np.round(prices[product] * quantity, 2),
        "ts": ts,
    }


def _products() -> dict[str, Any]:
    return {
        "product": np.array([p[0] for p in sample.PRODUCTS], dtype=object),
        "category": np.array([p[1] for p in sample.PRODUCTS], dtype=object),
        "list_price": np.array([p[2] for p in sample.PRODUCTS]),
    }


def _write(path: Path, columns: dict[str, Any]) -> None:
    """Columns are arrays, or (codes, labels) pairs written as plain strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for name, column in columns.items():
        if isinstance(column, tuple):
            codes, labels = column
            dictionary = pa.DictionaryArray.from_arrays(
                pa.array(codes.astype(np.int32)), pa.array(labels)
            )
            arrays[name] = dictionary.cast(pa.string())
        else:
            arrays[name] = pa.array(column)
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.table(arrays), tmp, compression="zstd")
    tmp.replace(path)
