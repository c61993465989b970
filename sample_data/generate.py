"""Deterministic generator for the seed scenario: a loyalty program.

Writes ``members.csv``, ``purchases.csv`` and ``products.csv`` beside this file.
The same seed always gives the same bytes (numpy is pinned in pyproject.toml);
``tests/test_sample_data.py`` checks the committed files against a fresh run.

The data are synthetic, shaped to exercise the privacy machinery:

* ``members`` has 12,000 members, among them a city 'A Very Small Town' with
  exactly 20 members (the differencing-attack target) and a handful of extreme
  spenders whose ``annual_spend`` is far above the policy bound;
* ``purchases`` has about 100,000 rows, most members with a few purchases and
  some heavy users with hundreds (the contribution-bounding target);
* ``products`` is a public catalog that joins freely.

Run ``python sample_data/generate.py [OUT_DIR] [--members N] [--purchases N]``;
the benchmark scales the same generator up (``bench/``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from pathlib import Path

import numpy as np

SEED = 20261122
SMALL_TOWN = "A Very Small Town"
SMALL_TOWN_SIZE = 20

CITIES = [
    "Springfield",
    "Riverton",
    "Lakeside",
    "Fairview",
    "Greenville",
    "Franklin",
    "Clinton",
    "Madison",
    "Georgetown",
    "Salem",
    "Ashland",
    "Bristol",
    "Dover",
    "Hudson",
    "Milton",
    "Newport",
    "Oxford",
    "Winchester",
]
MARITAL = ["Single", "Married", "Divorced", "Widowed"]
MARITAL_P = [0.38, 0.45, 0.12, 0.05]
EDUCATION = ["High School", "College", "Bachelor", "Master", "Doctor"]
EDUCATION_P = [0.30, 0.22, 0.30, 0.14, 0.04]
GENDER = ["Female", "Male", "Other"]
GENDER_P = [0.50, 0.47, 0.03]

PRODUCTS = [
    # product, category, list price
    ("espresso", "coffee", 2.50),
    ("latte", "coffee", 4.20),
    ("cappuccino", "coffee", 3.90),
    ("cold brew", "coffee", 4.50),
    ("green tea", "tea", 2.80),
    ("chai", "tea", 3.60),
    ("croissant", "bakery", 2.90),
    ("muffin", "bakery", 3.10),
    ("bagel", "bakery", 2.40),
    ("sandwich", "food", 7.80),
    ("salad", "food", 8.90),
    ("soup", "food", 6.50),
    ("coffee beans 1kg", "retail", 24.00),
    ("mug", "retail", 14.00),
    ("grinder", "retail", 89.00),
    ("espresso machine", "retail", 449.00),
]


def generate(out_dir: Path, n_members: int = 12_000, n_purchases: int = 100_000) -> None:
    """Write the three CSV files for ``n_members`` and about ``n_purchases`` rows."""
    rng = np.random.default_rng(SEED)
    out_dir.mkdir(parents=True, exist_ok=True)
    members = _members(rng, n_members)
    _write(
        out_dir / "members.csv",
        ["loyalty_number", "city", "marital_status", "education", "gender", "age", "annual_spend"],
        members,
    )
    ids = [m[0] for m in members]
    _write(
        out_dir / "purchases.csv",
        ["loyalty_number", "product", "amount", "ts"],
        _purchases(rng, ids, n_purchases),
    )
    _write(
        out_dir / "products.csv",
        ["product", "category", "list_price"],
        [(p, c, f"{price:.2f}") for p, c, price in PRODUCTS],
    )


def _members(rng: np.random.Generator, n: int) -> list[tuple[object, ...]]:
    ids = rng.permutation(np.arange(100_000, 100_000 + 10 * n, 10))[:n]
    weights = 1.0 / np.arange(1, len(CITIES) + 1) ** 0.8
    cities = rng.choice(np.array(CITIES, dtype=object), size=n, p=weights / weights.sum())
    cities[rng.choice(n, size=SMALL_TOWN_SIZE, replace=False)] = SMALL_TOWN
    ages = np.clip(rng.normal(44, 15, size=n).round(), 18, 95).astype(int)
    spend = np.round(rng.lognormal(mean=7.0, sigma=0.8, size=n), 2)
    spend[rng.choice(n, size=8, replace=False)] = np.round(rng.uniform(250_000, 2_000_000, 8), 2)
    marital = rng.choice(MARITAL, size=n, p=MARITAL_P)
    education = rng.choice(EDUCATION, size=n, p=EDUCATION_P)
    gender = rng.choice(GENDER, size=n, p=GENDER_P)
    return [
        (
            int(ids[i]),
            str(cities[i]),
            str(marital[i]),
            str(education[i]),
            str(gender[i]),
            int(ages[i]),
            f"{spend[i]:.2f}",
        )
        for i in range(n)
    ]


def _purchases(rng: np.random.Generator, ids: list[int], target: int) -> list[tuple[object, ...]]:
    n = len(ids)
    heavy = max(10, n // 400)
    counts = rng.geometric(p=n / (target * 0.84), size=n)
    counts[rng.choice(n, size=heavy, replace=False)] = rng.integers(200, 900, size=heavy)
    prices = np.array([p[2] for p in PRODUCTS])
    popularity = np.array([9, 8, 7, 4, 5, 4, 7, 5, 5, 4, 3, 3, 1.5, 0.8, 0.2, 0.05])
    popularity = popularity / popularity.sum()
    start = dt.datetime(2024, 1, 1)
    rows: list[tuple[object, ...]] = []
    for member, k in zip(ids, counts, strict=True):
        products = rng.choice(len(PRODUCTS), size=int(k), p=popularity)
        quantity = rng.integers(1, 4, size=int(k))
        seconds = rng.integers(0, 366 * 86_400, size=int(k))
        for p, q, s in zip(products, quantity, seconds, strict=True):
            ts = start + dt.timedelta(seconds=int(s))
            rows.append((member, PRODUCTS[p][0], f"{prices[p] * q:.2f}", ts.isoformat(sep=" ")))
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def _write(path: Path, header: list[str], rows: list[tuple[object, ...]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default=str(Path(__file__).parent))
    parser.add_argument("--members", type=int, default=12_000)
    parser.add_argument("--purchases", type=int, default=100_000)
    args = parser.parse_args()
    generate(Path(args.out_dir), args.members, args.purchases)


if __name__ == "__main__":
    main()
