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
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from oms.settings import get_settings
from oms.tenancy import CHALLENGER, CHAMPION, registered_name
from oms.tracking import TrackingStoreError, check_store, sqlite_path

log = logging.getLogger(__name__)

__all__ = ["CHALLENGER", "CHAMPION", "GateDecision", "TrainOutcome", "TrackingStoreError",
           "configure_mlflow", "load_champion", "promote_if_better", "registered_name",
           "use_experiment"]


def configure_mlflow(tracking_uri: str | None = None, read_only: bool = False) -> str:
    """Check the store, then point MLflow (tracking and registry) at it.

    Args:
        tracking_uri: Store URI (default: the settings').
        read_only: The caller only loads models: a missing or empty SQLite store is an error
            (``NoStoreError``, a ``LookupError``) instead of being created.

    Raises:
        TrackingStoreError: Corrupt, foreign or unreachable store (see ``oms.tracking``).
    """
    s = get_settings()
    uri = tracking_uri or s.tracking_uri
    check_store(uri, read_only=read_only, timeout=s.tracking_timeout)
    if uri.startswith(("http://", "https://")):
        # MLflow's defaults (120 s timeout, 7 retries with backoff) wait minutes on a dead server
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(max(s.tracking_timeout,
                                                                          1))))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    path = sqlite_path(uri)
    if path is not None and not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def use_experiment(name: str) -> str:
    """Make ``name`` the active experiment, creating it with the configured artifact root.

    For a local (SQLite) store the artifacts go to ``<artifact_root>/<name>`` (default
    ``<data_dir>/mlartifacts/<name>``), never to ``./mlruns`` in the working directory; a
    tracking server decides its own artifact location. Returns the experiment id.
    """
    client = MlflowClient()
    exp = client.get_experiment_by_name(name)
    if exp is None:
        location = None
        if sqlite_path(mlflow.get_tracking_uri()) is not None:
            location = (Path(get_settings().artifact_root) / name).resolve().as_uri()
        exp_id = client.create_experiment(name, artifact_location=location)
    else:
        exp_id = exp.experiment_id
        if "mlruns" in str(exp.artifact_location) and not str(
                exp.artifact_location).startswith(Path(get_settings().artifact_root).as_uri()):
            log.warning("experiment %s keeps its old artifact location %s", name,
                        exp.artifact_location)
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


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


@dataclass
class TrainOutcome:
    """The one result of every ``train_*`` pipeline: what was registered and what the gate did.

    Attributes:
        family: Model family, e.g. ``order_volume_forecaster``.
        tenant: Tenant the model was trained for.
        name: Registered model name, ``<family>__<tenant>`` (``oms.tenancy``).
        run_id: MLflow run id.
        version: Registered version (None when registration was skipped).
        alias: Alias given to the version: ``champion``, ``challenger`` or None.
        gate: The gate decision with its reason (None when registration was skipped).
        report: Family-specific results (backtest table, fitted model, evaluation, ...).
    """

    family: str
    tenant: str
    name: str
    run_id: str
    version: str | None = None
    alias: str | None = None
    gate: GateDecision | None = None
    report: Any = None

    @property
    def promoted(self) -> bool:
        """Whether the new version became the tenant's champion."""
        return bool(self.gate and self.gate.promoted)

    @property
    def uri(self) -> str | None:
        """``models:/<name>/<version>`` of the registered version."""
        return f"models:/{self.name}/{self.version}" if self.version else None

    def summary(self) -> str:
        """One line: name, version, alias and the gate's reason."""
        if self.version is None:
            return f"{self.name}: not registered (run {self.run_id})"
        return f"{self.name} v{self.version} -> {self.alias}: {self.gate.reason}"


def outcome(family: str, tenant: str, run_id: str, gate: GateDecision | None,
            report: Any = None) -> TrainOutcome:
    """Build the :class:`TrainOutcome` of a run from its gate decision."""
    name = registered_name(family, tenant)
    if gate is None:
        return TrainOutcome(family, tenant, name, run_id, report=report)
    alias = CHAMPION if gate.promoted else CHALLENGER
    return TrainOutcome(family, tenant, name, run_id, gate.version, alias, gate, report)


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
    if champion_version(name) is None:
        raise LookupError(f"no champion registered for {name!r}"
                          + _train_hint(name))
    try:
        return mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
    except MlflowException as e:
        raise LookupError(f"champion of {name!r} cannot be loaded: {e.message}") from e


def _train_hint(name: str) -> str:
    from oms.tenancy import split_registered_name

    parts = split_registered_name(name)
    if parts is None:
        return ""
    return f" (tenant {parts[1]!r} has no {parts[0]} champion yet: train one for it first)"
