"""Model monitoring computations: forecast-vs-actual scoring and data-drift rows (no I/O)."""

from models.monitoring.accuracy import (
    TRACKING_KEY,
    accuracy_summary,
    merge_tracking,
    score_forecasts,
)
from models.monitoring.drift import DRIFT_COLUMNS, ColumnDrift, drift_rows, run_drift

__all__ = ["DRIFT_COLUMNS", "TRACKING_KEY", "ColumnDrift", "accuracy_summary", "drift_rows",
           "merge_tracking", "run_drift", "score_forecasts"]
