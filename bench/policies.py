"""Policies for the benchmark data, written beside it at run time.

They follow ``policies/`` with three deliberate differences, so that every system is
measured on the same mechanism with the same bounds:

* ``min_group_size: 0``: the sample policy's minimum group size makes every query also
  measure a unit count (half the budget of a COUNT query); the peers have no such rule;
* ``purchases.product`` is a public key (the product catalog is public);
* ``cache: false`` and large budgets for many analysts, so repeated runs really run.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from bench.data import Size
from bench.queries import (
    AGE_BOUNDS,
    AMOUNT_BOUNDS,
    DELTA,
    EPSILON,
    MAX_GROUPS,
    MAX_ROWS,
    SPEND_BOUNDS,
)
from sample_data import generate as sample

ANALYSTS = 64  # one per concurrent wire client
QUERIES_PER_ANALYST = 900  # each has epsilon 1000; queries cost EPSILON each


def analyst(i: int) -> str:
    return f"bench{i:02d}"


def set_port(policy_dir: Path, port: int) -> None:
    """Point the wire server of an existing policy directory at ``port``."""
    path = policy_dir / "dpproxy.yaml"
    config = yaml.safe_load(path.read_text())
    config["server"]["port"] = port
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def write(size: Size, *, port: int = 0) -> Path:
    """Write the policy directory for ``size`` and return it, with an empty ledger (the
    bench's own state directory, so that earlier runs leave no spent budget behind)."""
    out = size.directory / "policies"
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(size.directory / "state", ignore_errors=True)
    config: dict[str, Any] = {
        "analysts": {
            analyst(i): {"budget": {"epsilon": 1000.0, "delta": 0.5}} for i in range(ANALYSTS)
        },
        "queries": {
            "default_epsilon": EPSILON,
            "max_epsilon": 10.0,
            "delta": DELTA,
            "timeout_seconds": 3600,
        },
        "accounting": "pure",
        "state": "../state",
        "cache": False,
        "engine_threads": 2,
        "engine_memory_limit": "8GB",
        "server": {"host": "127.0.0.1", "port": port or 5433, "authentication": "trust"},
    }
    members = {
        "table": "members",
        "source": {"parquet": "../members.parquet"},
        "privacy_unit": "loyalty_number",
        "domain": "member",
        "max_rows_per_unit": 1,
        "max_groups_per_unit": 1,
        "min_group_size": 0,
        "columns": {
            "loyalty_number": {"role": "privacy_unit"},
            "city": {"role": "dimension"},
            "marital_status": {"role": "dimension", "public_values": sample.MARITAL},
            "education": {"role": "dimension", "public_values": sample.EDUCATION},
            "gender": {"role": "dimension", "public_values": sample.GENDER},
            "age": {"role": ["dimension", "measure"], "bounds": list(AGE_BOUNDS)},
            "annual_spend": {"role": "measure", "bounds": list(SPEND_BOUNDS)},
        },
    }
    purchases = {
        "table": "purchases",
        "source": {"parquet": "../purchases.parquet"},
        "privacy_unit": "loyalty_number",
        "domain": "member",
        "max_rows_per_unit": MAX_ROWS,
        "max_groups_per_unit": MAX_GROUPS,
        "min_group_size": 0,
        "columns": {
            "loyalty_number": {"role": "privacy_unit"},
            "product": {
                "role": ["dimension", "join_key"],
                "public_values": [p[0] for p in sample.PRODUCTS],
            },
            "amount": {"role": "measure", "bounds": list(AMOUNT_BOUNDS)},
            "ts": {"role": "dimension"},
        },
    }
    products = {
        "table": "products",
        "source": {"parquet": "../products.parquet"},
        "public": True,
        "columns": {
            "product": {"role": ["dimension", "join_key"]},
            "category": {"role": "dimension"},
            "list_price": {"role": ["dimension", "measure"], "bounds": [0, 500]},
        },
    }
    for name, body in (
        ("dpproxy", config),
        ("members", members),
        ("purchases", purchases),
        ("products", products),
    ):
        (out / f"{name}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    return out
