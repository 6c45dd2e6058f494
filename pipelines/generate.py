"""Public API of the order generator (implementation in ``pipelines.generator``).

``generate(scale, seed, out)`` writes all eight contract tables plus the churn ground truth
``out/_truth/customer_snapshots``; ``true_churn_probability`` turns that truth into the exact
probability of no order within a horizon.
"""

from pipelines.generator import (
    SCALES,
    TRUTH_SNAPSHOTS,
    GenerateReport,
    Scale,
    generate,
    month_chunks,
    true_churn_probability,
)

__all__ = [
    "SCALES",
    "TRUTH_SNAPSHOTS",
    "GenerateReport",
    "Scale",
    "generate",
    "month_chunks",
    "true_churn_probability",
]
