"""The committed sample data are exactly what the generator makes, with the seed's
properties the tests and the README rely on."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.conftest import ROOT, SAMPLE


def test_generator_reproduces_committed_files(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SAMPLE / "generate.py"), str(tmp_path)], check=True,
                   cwd=ROOT)  # fmt: skip
    for name in ("members.csv", "purchases.csv", "products.csv"):
        fresh = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        committed = hashlib.sha256((SAMPLE / name).read_bytes()).hexdigest()
        assert fresh == committed, name


def test_seed_scenario_properties() -> None:
    with (SAMPLE / "members.csv").open() as f:
        members = list(csv.DictReader(f))
    assert len(members) >= 10_000
    assert len({m["loyalty_number"] for m in members}) == len(members)
    assert Counter(m["city"] for m in members)["A Very Small Town"] == 20
    assert sum(float(m["annual_spend"]) > 100_000 for m in members) >= 5
    with (SAMPLE / "purchases.csv").open() as f:
        per_member = Counter(row["loyalty_number"] for row in csv.DictReader(f))
    assert 90_000 <= sum(per_member.values()) <= 110_000
    assert sum(n >= 200 for n in per_member.values()) >= 10
