"""MLflow tracking and the gated model registry, shared by every model family.

Pattern (used by forecasting, churn and routing alike):

1. ``configure_mlflow()`` points MLflow at the settings' store (embedded SQLite by default).
2. A training pipeline opens a run, logs params/metrics/plots, and logs the model with
   ``log_pyfunc(...)`` (signature + input example), which registers a new version.
3. ``promote_if_better(...)`` is the quality gate: the ``champion`` alias moves to the new
   version only if its gate metric beats the current champion's on the same backtest
   windows; otherwise the new version gets the ``challenger`` alias.

Run ids are passed explicitly (``mlflow.active_run()`` is per-thread and Prefect tasks may
run on other threads).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from oms.settings import get_settings

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"


def configure_mlflow(tracking_uri: str | None = None) -> str:
    """Point MLflow (tracking and registry) at ``tracking_uri`` or the settings' store."""
    uri = tracking_uri or get_settings().tracking_uri
    if uri.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(uri.removeprefix("sqlite:///")) or ".", exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def frame_hash(df: pd.DataFrame) -> str:
    """A short content hash of a frame, logged with each run to identify its training data."""
    h = pd.util.hash_pandas_object(df, index=False).to_numpy()
    return hashlib.sha256(h.tobytes()).hexdigest()[:16]


def log_pyfunc(
    python_model: mlflow.pyfunc.PythonModel,
    registered_name: str,
    input_example: pd.DataFrame,
    output_example: pd.DataFrame | None = None,
    artifacts: dict[str, str] | None = None,
    name: str = "model",
) -> str:
    """Log a pyfunc model in the active run and register a new version.

    Args:
        python_model: The family's ``PythonModel`` adapter, holding the fitted estimator.
        registered_name: Registry name, e.g. ``order_volume_forecaster``.
        input_example: A small input frame (also used to infer the signature).
        output_example: Matching output frame for the signature (predicted if omitted).
        artifacts: Extra files the adapter loads in ``load_context``.
        name: Artifact name within the run.

    Returns:
        The new registered model version (as a string).
    """
    if output_example is None:
        output_example = python_model.predict(None, input_example)
    signature = infer_signature(input_example, output_example)
    info = mlflow.pyfunc.log_model(
        name=name,
        python_model=python_model,
        artifacts=artifacts,
        signature=signature,
        input_example=input_example,
        registered_model_name=registered_name,
        pip_requirements=["oms-ml"],
    )
    return str(info.registered_model_version)


@dataclass
class GateDecision:
    """Outcome of the promotion gate.

    Attributes:
        name: Registered model name.
        version: Candidate version.
        promoted: Whether the candidate became champion.
        metric: Gate metric name.
        candidate: Candidate's metric value.
        champion: Previous champion's value (None if there was none).
        reason: One line explaining the decision.
    """

    name: str
    version: str
    promoted: bool
    metric: str
    candidate: float
    champion: float | None
    reason: str


def champion_version(name: str, client: MlflowClient | None = None) -> Any | None:
    """The ModelVersion holding the ``champion`` alias, or None."""
    client = client or MlflowClient()
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def promote_if_better(
    name: str,
    version: str,
    metric: str,
    candidate_value: float,
    higher_is_better: bool = True,
    champion_value: float | None = None,
    min_improvement: float = 0.0,
) -> GateDecision:
    """Move ``champion`` to ``version`` only if it beats the current champion.

    The comparison must be on the same backtest windows: callers re-score the current
    champion on the candidate's windows and pass ``champion_value``. When it is omitted, the
    value the champion logged under ``metric`` in its own run is used.

    Args:
        name: Registered model name.
        version: Candidate version.
        metric: Gate metric (e.g. ``wape`` or ``roc_auc``).
        candidate_value: Candidate's value of the metric.
        higher_is_better: Direction of the metric.
        champion_value: Current champion's value on the same windows, if re-scored.
        min_improvement: Margin the candidate must win by.

    Returns:
        The gate decision; also written as tags on the candidate version.
    """
    client = MlflowClient()
    current = champion_version(name, client)
    if current is not None and champion_value is None:
        run = client.get_run(current.run_id)
        champion_value = run.data.metrics.get(metric)
    if current is None:
        promoted, reason = True, "no champion yet"
    elif str(current.version) == str(version):
        promoted, reason = True, "already champion"
    elif champion_value is None:
        promoted, reason = True, f"champion v{current.version} has no {metric}"
    else:
        delta = candidate_value - champion_value
        better = delta > min_improvement if higher_is_better else -delta > min_improvement
        promoted = bool(better)
        reason = (
            f"{metric} {candidate_value:.4f} vs champion v{current.version} "
            f"{champion_value:.4f}: {'better' if better else 'not better'}"
        )
    alias = CHAMPION if promoted else CHALLENGER
    client.set_registered_model_alias(name, alias, str(version))
    client.set_model_version_tag(name, str(version), "gate", reason)
    client.set_model_version_tag(name, str(version), f"gate_{metric}", f"{candidate_value:.6f}")
    log.info("gate %s v%s: %s -> %s", name, version, reason, alias)
    return GateDecision(name, str(version), promoted, metric, float(candidate_value),
                        None if champion_value is None else float(champion_value), reason)


def load_champion(name: str) -> mlflow.pyfunc.PyFuncModel:
    """Load ``models:/<name>@champion`` as a pyfunc, with a clear error if there is none."""
    try:
        return mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
    except MlflowException as e:
        raise LookupError(f"no champion registered for {name!r}: {e.message}") from e
