"""Realistic synthetic order data: the ``oms-ml generate`` pipeline and its ground truth."""

from pipelines.generator.core import TRUTH_SNAPSHOTS, GenerateReport, generate, month_chunks
from pipelines.generator.population import true_churn_probability
from pipelines.generator.scales import SCALES, Scale

__all__ = [
    "SCALES",
    "TRUTH_SNAPSHOTS",
    "GenerateReport",
    "Scale",
    "generate",
    "month_chunks",
    "true_churn_probability",
]
