"""Policies: pydantic models, YAML loading and the catalog the checker reads."""

from dpproxy.policy.load import Policies, load_policies
from dpproxy.policy.model import Accounting, Aggregate, Config, Role, TablePolicy

__all__ = ["Accounting", "Aggregate", "Config", "Policies", "Role", "TablePolicy", "load_policies"]
