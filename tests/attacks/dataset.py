"""The attack corpus's data: a small loyalty program with one victim.

D holds 150 ordinary members and the victim; D' is D without the victim (and the
victim's purchases): neighbouring datasets under user-level DP. The victim is the only
member of 'Solitude', the only 'Doctor', the only member aged 77, spends an infinite
amount (a corrupt value) and bought the espresso machine 30 times; one ordinary member
has a NaN spend. Attacks that would make an error or a value depend on the victim's
row are run on both and must give the same kind of outcome.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

from tests.synthetic import Row, write_dataset

VICTIM = 999001
CITIES = ("Springfield", "Salem", "Riverton")
EDUCATION = ("High School", "College", "Bachelor", "Master")
MARITAL = ("Single", "Married", "Divorced")
PRODUCTS = ("espresso", "latte", "cappuccino", "green tea", "croissant", "bagel", "sandwich")
START = dt.datetime(2024, 1, 1, 8, 0, 0)
# Values that occur only in the data: no message may contain one unless the query did.
SECRETS = ("999001", "4321.0987", "Solitude")


def members(*, victim: bool) -> list[Row]:
    rows: list[Row] = []
    for i in range(150):
        spend = math.nan if i == 7 else (4321.0987 if i == 17 else float(100 + (37 * i) % 5000))
        rows.append(
            (
                1000 + i,
                CITIES[i % 3],
                MARITAL[i % 3],
                EDUCATION[i % 4],
                ("Female", "Male")[i % 2],
                20 + i % 50,
                spend,
            )
        )
    if victim:
        rows.append((VICTIM, "Solitude", "Widowed", "Doctor", "Other", 77, math.inf))
    return rows


def purchases(*, victim: bool) -> list[Row]:
    rows: list[Row] = []
    for i in range(150):
        for j in range(i % 4 + 1):
            product = PRODUCTS[(i + j) % len(PRODUCTS)]
            when = START + dt.timedelta(hours=7 * i + j)
            rows.append((1000 + i, product, 2.5 + (i + j) % 7, when))
    if victim:
        for j in range(30):
            when = START + dt.timedelta(days=3, minutes=j)
            rows.append((VICTIM, "espresso machine", 449.0, when))
    return rows


def write(directory: Path, *, victim: bool) -> Path:
    return write_dataset(directory, members(victim=victim), purchases(victim=victim))
