"""Realistic synthetic order data: the ``oms-ml generate`` pipeline and its ground truth."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.generator.core import TRUTH_SNAPSHOTS, GenerateReport, generate, month_chunks
    from pipelines.generator.population import true_churn_probability
    from pipelines.generator.scales import SCALES, Scale

# Names are imported on first use: the CLI reads SCALES at start-up without loading the
# generator itself (scipy, the calendar model), which costs seconds.
_HOME = {"TRUTH_SNAPSHOTS": "core", "GenerateReport": "core", "generate": "core",
         "month_chunks": "core", "true_churn_probability": "population", "SCALES": "scales",
         "Scale": "scales"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SCALES",
    "TRUTH_SNAPSHOTS",
    "GenerateReport",
    "Scale",
    "generate",
    "month_chunks",
    "true_churn_probability",
]
