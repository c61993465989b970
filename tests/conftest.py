"""Shared fixtures: copies of the sample policies with test budgets and private state."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import dpproxy
from dpproxy.proxy import Proxy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SAMPLE = ROOT / "sample_data"


def write_policies(
    directory: Path,
    config: dict[str, Any] | None = None,
    tables: dict[str, dict[str, Any]] | None = None,
    data: Path = SAMPLE,
) -> Path:
    """Copy the sample policies into ``directory`` with overrides.

    ``config`` entries replace top-level keys of dpproxy.yaml; ``tables`` maps a table
    name to top-level keys replaced in its policy (``None`` removes the table).
    Sources point at ``data``; state lives in ``directory/state``. A CSV table's
    overriding ``columns`` that leave out ``type`` keep the sample policy's type for that
    column (a CSV source must declare every type); other sources read the file's types.
    """
    directory.mkdir(parents=True, exist_ok=True)
    base = yaml.safe_load((POLICIES / "dpproxy.yaml").read_text())
    base["state"] = "state"
    base["analysts"] = {
        "alice": {"budget": {"epsilon": 1000.0, "delta": 0.5}},
        "bob": {"budget": {"epsilon": 1.0, "delta": 1.0e-6}},
    }
    base["queries"] = {
        "default_epsilon": 0.5, "max_epsilon": 50.0, "min_epsilon": 1e-9, "delta": 1.0e-7
    }  # fmt: skip
    base.update(config or {})
    (directory / "dpproxy.yaml").write_text(yaml.safe_dump(base))
    for path in sorted(POLICIES.glob("*.yaml")):
        if path.name == "dpproxy.yaml":
            continue
        policy = yaml.safe_load(path.read_text())
        override = (tables or {}).get(policy["table"], {})
        if override is None:
            continue
        sample_columns = policy["columns"]
        policy.update(override)
        kind = next(iter(policy["source"]))
        if kind in ("csv", "parquet"):
            policy["source"] = {kind: str(data / Path(policy["source"][kind]).name)}
        if kind == "csv" and "columns" in override:
            policy["columns"] = {
                name: {"type": sample_columns[name]["type"], **column}
                if "type" not in column and name in sample_columns else column
                for name, column in override["columns"].items()
            }  # fmt: skip
        (directory / path.name).write_text(yaml.safe_dump(policy, sort_keys=False))
    return directory


@pytest.fixture(scope="session")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """One proxy over the sample data, generous budgets, shared by read-only tests."""
    directory = write_policies(tmp_path_factory.mktemp("policies"))
    p = Proxy(directory)
    yield p
    p.close()


@pytest.fixture
def session(proxy: Proxy) -> dpproxy.Session:
    return proxy.session("alice")


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Proxy]:
    """A proxy with its own empty ledger (for budget tests)."""
    p = Proxy(write_policies(tmp_path / "policies"))
    yield p
    p.close()


@pytest.fixture(scope="session")
def catalog(proxy: Proxy) -> Any:
    return proxy.catalog


def copy_sample(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for path in SAMPLE.glob("*.csv"):
        shutil.copy(path, directory / path.name)
    return directory
