"""Load a policy directory: ``dpproxy.yaml`` plus one YAML file per table.

Every error names the file and the key path, e.g.
``members.yaml: columns.age.bounds: lower bound 100.0 exceeds upper bound 18.0``.
Duplicate YAML keys are errors (PyYAML would silently keep the last one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from dpproxy.errors import PolicyError
from dpproxy.policy.model import Config, ParquetSource, TablePolicy, source_kind

CONFIG_FILE = "dpproxy.yaml"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Policies:
    """A validated policy directory."""

    directory: Path
    config: Config
    tables: Mapping[str, TablePolicy]
    files: Mapping[str, Path]  # table name -> its policy file
    version: str  # sha256 over every policy file, for the result cache

    def source_path(self, table: str) -> Path:
        """The data file of ``table``, resolved relative to its policy file."""
        _, path = source_kind(self.tables[table].source)
        return (self.files[table].parent / path).resolve()

    @property
    def state_dir(self) -> Path:
        return (self.directory / self.config.state).resolve()

    def domains(self) -> set[str]:
        return {d for t in self.tables.values() if (d := t.privacy_domain) is not None}


def load_policies(directory: str | Path) -> Policies:
    """Read and validate every policy in ``directory``.

    >>> load_policies("policies").tables["members"].privacy_unit
    'loyalty_number'
    """
    root = Path(directory)
    if not root.is_dir():
        raise PolicyError(f"{root}: not a policy directory")
    config_path = root / CONFIG_FILE
    if not config_path.is_file():
        raise PolicyError(f"{root}: missing {CONFIG_FILE} (analysts, budgets, state)")
    digest = hashlib.sha256()
    config = _validate(Config, _read_yaml(config_path, digest), config_path)
    tables: dict[str, TablePolicy] = {}
    files: dict[str, Path] = {}
    for path in sorted([*root.glob("*.yaml"), *root.glob("*.yml")]):
        if path.name == CONFIG_FILE:
            continue
        policy = _validate(TablePolicy, _read_yaml(path, digest), path)
        if policy.table in tables:
            raise PolicyError(
                f"{path.name}: table: '{policy.table}' is already defined in "
                f"{files[policy.table].name}"
            )
        tables[policy.table] = policy
        files[policy.table] = path.resolve()
    if not tables:
        raise PolicyError(f"{root}: no table policies (*.yaml besides {CONFIG_FILE})")
    policies = Policies(root.resolve(), config, tables, files, digest.hexdigest())
    _cross_check(policies, config_path)
    return policies


def _cross_check(policies: Policies, config_path: Path) -> None:
    """Rules spanning several files."""
    owners: dict[str, list[TablePolicy]] = {}
    for table in policies.tables.values():
        if (domain := table.privacy_domain) is not None:
            owners.setdefault(domain, []).append(table)
        path = policies.source_path(table.table)
        source = table.source
        if isinstance(source, ParquetSource) and source.folder:
            if not path.is_dir():
                raise PolicyError(
                    f"{policies.files[table.table].name}: source: no folder at {path}"
                )
        elif not path.is_file():
            raise PolicyError(f"{policies.files[table.table].name}: source: no file at {path}")
    for domain, tables in owners.items():
        if len(tables) > 1 and any(t.row_level for t in tables):
            names = ", ".join(sorted(t.table for t in tables))
            raise PolicyError(
                f"domain: row-level tables cannot share privacy domain '{domain}' ({names})"
            )
    known = set(owners)
    for name, analyst in policies.config.analysts.items():
        for domain in analyst.domains:
            if domain not in known:
                raise PolicyError(
                    f"{config_path.name}: analysts.{name}.domains.{domain}: no table has "
                    f"privacy domain '{domain}' (known: {', '.join(sorted(known))})"
                )
    for domain in policies.config.global_budgets:
        if domain not in known:
            raise PolicyError(
                f"{config_path.name}: global_budgets.{domain}: no table has privacy domain "
                f"'{domain}' (known: {', '.join(sorted(known))})"
            )


def _validate(model: type[M], data: Any, path: Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        messages = []
        for error in exc.errors(include_url=False, include_input=False):
            loc = ".".join(str(part) for part in error["loc"])
            msg = error["msg"].removeprefix("Value error, ")
            messages.append(f"{path.name}: {loc + ': ' if loc else ''}{msg}")
        raise PolicyError("\n".join(messages)) from None


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
        if key in seen:
            line = key_node.start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}' (line {line})", key_node.start_mark
            )
        seen[key] = loader.construct_object(value_node, deep=True)  # type: ignore[no-untyped-call]
    return seen


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _read_yaml(path: Path, digest: Any) -> Any:
    raw = path.read_bytes()
    digest.update(path.name.encode() + b"\0" + raw + b"\0")
    try:
        data = yaml.load(raw, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path.name}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path.name}: expected a mapping at the top level")
    return data
