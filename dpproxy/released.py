"""What leaves dpproxy for one query: noisy rows and the accuracy of each column.

Shared by post-processing (which builds it), the result cache (which stores and replays
it) and every client surface (the API, the CLI, the wire server).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ColumnAccuracy:
    column: str
    mechanism: str
    scale: float | None  # noise scale in output units (Laplace b, or Gaussian sigma)
    ci95: float | None  # 95% confidence half-width (largest over rows where it varies)

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "mechanism": self.mechanism,
            "scale": self.scale,
            "ci95": self.ci95,
        }


@dataclass(frozen=True)
class Released:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    accuracy: tuple[ColumnAccuracy, ...]
