"""Train, evaluate, register and gate the churn classifier (a plain function; flows wire it).

Time-based evaluation only: the model is trained on snapshots at earlier cutoffs whose label
windows end on or before the test cutoff, and tested on the snapshot at the test cutoff.
Logged to MLflow: parameters, data hash, Brier score, ROC-AUC, PR-AUC, log-loss, baselines
(recency alone, BG/NBD P(alive)), and a reliability plot. Each tenant's model is registered
as ``churn_classifier__<tenant>`` (``oms.tenancy``); that tenant's current champion is
re-scored on the same test snapshot and its ``champion`` alias only moves if the new
version's ROC-AUC is better.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from models.churn.classifier import ChurnClassifier
from models.churn.features import churn_features
from models.churn.strategy import RetentionConfig
from oms.lake import read_table, table_uri

if TYPE_CHECKING:
    from pipelines.registry import TrainOutcome

log = logging.getLogger(__name__)

FAMILY = "churn_classifier"
GATE_METRIC = "roc_auc"


@dataclass
class ChurnTables:
    """The lake tables churn needs (order lines and events are optional)."""

    orders: pd.DataFrame
    order_events: pd.DataFrame | None = None
    order_lines: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None


@dataclass
class ChurnFit:
    """The churn part of a training outcome (``TrainOutcome.report``), or a plain fit."""

    metrics: dict[str, float]
    train_cutoffs: list[pd.Timestamp]
    test_cutoff: pd.Timestamp
    selected: str
    model: ChurnClassifier | None = None
    test_frame: pd.DataFrame | None = field(default=None, repr=False)
    train_frame: pd.DataFrame | None = field(default=None, repr=False)


def load_tables(lake: str, tenant_id: str | None = None) -> ChurnTables:
    """Read orders (required) and order events/lines/customers (optional) from the lake."""
    import pyarrow.dataset as ds

    from oms.lake import LakeError

    flt = ds.field("tenant_id") == tenant_id if tenant_id else None

    def read(name: str, required: bool) -> pd.DataFrame | None:
        try:
            return read_table(table_uri(lake, name), filter=flt)
        except LakeError:
            if required:
                raise
            log.info("no %s table in %s; continuing without it", name, lake)
            return None

    return ChurnTables(read("orders", True), read("order_events", False),
                       read("order_lines", False), read("customers", False))


def data_range(orders: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last order day of the data; a clear error when there are no orders."""
    if orders.empty:
        raise ValueError("there are no orders: nothing to learn churn from")
    d = pd.to_datetime(orders["order_date"])
    if d.dt.tz is not None:
        d = d.dt.tz_localize(None)
    return d.min().normalize(), d.max().normalize()


def plan_cutoffs(
    orders: pd.DataFrame,
    horizon_days: int = 90,
    test_cutoff: str | pd.Timestamp | None = None,
    n_train: int = 4,
    step_days: int = 30,
    min_history_days: int = 60,
) -> tuple[list[pd.Timestamp], pd.Timestamp]:
    """Choose training cutoffs whose label windows end by the test cutoff.

    Args:
        orders: Contract orders.
        horizon_days: Label horizon.
        test_cutoff: Test snapshot day; default = last order day − horizon.
        n_train: Number of training snapshots (fewer if history is short).
        step_days: Days between training snapshots.
        min_history_days: History a snapshot needs after the first order day.

    Returns:
        (training cutoffs ascending, test cutoff).

    Raises:
        ValueError: The cutoff is outside the data or no training snapshot fits.
    """
    first, last = data_range(orders)
    if first == last:
        raise ValueError(f"every order is on one day ({first.date()}): churn needs history "
                         "before a cutoff and a label window after it")
    test = _day(test_cutoff) if test_cutoff is not None else (
        last - pd.Timedelta(days=horizon_days))
    # the label window (test, test + horizon] may end exactly on the last day of the data
    if test + pd.Timedelta(days=horizon_days) > last or test <= first:
        raise ValueError(
            f"test cutoff {test.date()} is outside the usable data range: orders run "
            f"{first.date()}..{last.date()} and the label needs {horizon_days} days after it")
    latest = test - pd.Timedelta(days=horizon_days)
    cuts = [latest - pd.Timedelta(days=step_days * k) for k in range(n_train)]
    cuts = [c for c in cuts if c >= first + pd.Timedelta(days=min_history_days)]
    if not cuts:
        raise ValueError(
            f"no training cutoff fits: with test cutoff {test.date()} and horizon "
            f"{horizon_days} days the latest training cutoff is {latest.date()}, less than "
            f"{min_history_days} days after the first order ({first.date()})")
    return sorted(cuts), test


def _day(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return (ts.tz_localize(None) if ts.tzinfo is not None else ts).normalize()


def build_snapshots(tables: ChurnTables, cutoffs: list[pd.Timestamp],
                    horizon_days: int) -> pd.DataFrame:
    """Labelled churn features at each cutoff, stacked (a ``cutoff`` column marks time)."""
    frames = [churn_features(tables.orders, tables.order_events, c, horizon_days,
                             tables.order_lines) for c in cutoffs]
    return pd.concat(frames, ignore_index=True)


def evaluate(y: np.ndarray, p: np.ndarray, prefix: str = "") -> dict[str, float]:
    """Brier, ROC-AUC, PR-AUC and log-loss of churn probabilities."""
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return {
        f"{prefix}roc_auc": float(roc_auc_score(y, p)),
        f"{prefix}pr_auc": float(average_precision_score(y, p)),
        f"{prefix}brier": float(brier_score_loss(y, p)),
        f"{prefix}log_loss": float(log_loss(y, p)),
    }


def baseline_metrics(test: pd.DataFrame, train: pd.DataFrame | None = None,
                     ) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier and log-loss of every simple baseline on the test snapshot.

    With ``train``, each baseline's probabilities are learned on the training snapshots
    (:mod:`models.churn.baselines`); without it only the raw scores' ROC-AUC and PR-AUC
    of recency and BG/NBD ``1 - p_alive`` are reported (no probabilities, so no Brier).
    """
    y = test["churned"].to_numpy()
    if train is not None:
        from models.churn.baselines import baseline_probabilities

        out = {}
        for name, p in baseline_probabilities(train, test).items():
            out |= evaluate(y, p, prefix=f"baseline_{name}_")
        return out
    raw = {"recency": test["recency_days"].to_numpy(float)}
    if "p_alive" in test and test["p_alive"].notna().all():
        raw["p_alive"] = 1 - test["p_alive"].to_numpy(float)
    return {f"baseline_{k}_{m}": float(f(y, v)) for k, v in raw.items()
            for m, f in (("roc_auc", roc_auc_score), ("pr_auc", average_precision_score))}


def reliability_plot(y: np.ndarray, p: np.ndarray, path: Path) -> Path:
    """Save a reliability diagram (observed churn rate vs predicted probability)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frac, mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.plot(mean, frac, "o-", label="churn classifier")
    ax.set(xlabel="predicted churn probability", ylabel="observed churn rate",
           title="Reliability (test cutoff)")
    ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def champion_on(test: pd.DataFrame, name: str) -> float | None:
    """Re-score champion ``name`` on the test snapshot (None without a usable champion)."""
    from models.churn.pyfunc import model_input
    from pipelines.registry import champion_version, load_champion

    if champion_version(name) is None:
        return None
    try:
        champ = load_champion(name)
        p = champ.predict(model_input(test))["churn_probability"].to_numpy(float)
    except Exception as e:  # noqa: BLE001 - an incompatible champion must not block training
        log.warning("champion could not score the test snapshot (%s); gate uses its logged "
                    "metric", e)
        return None
    return float(roc_auc_score(test["churned"], p))


def fit_and_test(
    tables: ChurnTables,
    horizon_days: int = 90,
    test_cutoff: str | pd.Timestamp | None = None,
    n_train: int = 4,
    step_days: int = 30,
    classifier: ChurnClassifier | None = None,
) -> ChurnFit:
    """Build snapshots, fit on the training cutoffs and evaluate on the test cutoff (no MLflow).

    Args:
        tables: Lake tables.
        horizon_days: Label horizon in days.
        test_cutoff: Test snapshot day (default: last order day − horizon).
        n_train: Number of training snapshots.
        step_days: Days between training snapshots.
        classifier: Unfitted classifier to use (default :class:`ChurnClassifier`).

    Returns:
        Metrics, cutoffs, the fitted model, the scored test snapshot and the training
        snapshots it was fitted on.
    """
    train_cuts, test_cut = plan_cutoffs(tables.orders, horizon_days, test_cutoff, n_train,
                                        step_days)
    train = build_snapshots(tables, train_cuts, horizon_days)
    test = build_snapshots(tables, [test_cut], horizon_days)
    n_customers = train["customer_id"].nunique()
    if n_customers < 2:
        raise ValueError(f"the training snapshots hold {n_customers} customer(s): churn needs "
                         "several customers, some who return and some who do not")
    model = (classifier or ChurnClassifier()).fit(train)
    p = model.predict_proba(test)[:, 1]
    y = test["churned"].to_numpy()
    metrics = evaluate(y, p) | baseline_metrics(test, train)
    metrics |= {"test_churn_rate": float(y.mean()), "test_customers": float(len(test)),
                "train_rows": float(len(train))}
    metrics |= {f"validation_{k}_roc_auc": v for k, v in model.validation_auc_.items()}
    return ChurnFit(metrics, train_cuts, test_cut, model.selected_, model=model,
                    test_frame=test.assign(churn_probability=p), train_frame=train)


def train_churn(
    lake: str | None = None, horizon_days: int = 90, test_cutoff: str | None = None,
    n_train: int = 4, step_days: int = 30, tenant_id: str | None = None,
    tracking_uri: str | None = None, config: RetentionConfig | None = None,
    classifier: ChurnClassifier | None = None,
) -> TrainOutcome:
    """Train one tenant's churn classifier, log it to MLflow, register and gate it.

    Args:
        lake: Lake URI (default: settings).
        horizon_days: Label horizon in days.
        test_cutoff: Test snapshot day (default: last order day − horizon).
        n_train: Number of training snapshots.
        step_days: Days between training snapshots.
        tenant_id: Tenant (default: the settings' tenant); registered as
            ``churn_classifier__<tenant>``.
        tracking_uri: MLflow URI (default: settings).
        config: Retention thresholds baked into the served model.
        classifier: Unfitted classifier with non-default parameters.

    Returns:
        The train-and-gate outcome; ``outcome.report`` is the :class:`ChurnFit`.
    """
    import mlflow

    from models.churn.pyfunc import ChurnPyfunc
    from oms.settings import get_settings
    from oms.tenancy import registered_name, validate_tenant
    from pipelines import registry

    tenant = validate_tenant(tenant_id or get_settings().tenant_id)
    name = registered_name(FAMILY, tenant)
    registry.configure_mlflow(tracking_uri)  # a corrupt or unreachable store fails first
    tables = load_tables(lake or get_settings().lake, tenant)
    res = fit_and_test(tables, horizon_days, test_cutoff, n_train, step_days, classifier)
    registry.use_experiment("churn")
    test = res.test_frame.drop(columns=["churn_probability"])
    champ_auc = champion_on(test, name)
    with mlflow.start_run(run_name=f"train_churn-{tenant}",
                          tags={"tenant": tenant, "family": FAMILY}) as run:
        mlflow.log_params({
            "horizon_days": horizon_days, "test_cutoff": str(res.test_cutoff.date()),
            "train_cutoffs": ",".join(str(c.date()) for c in res.train_cutoffs),
            "selected": res.selected, "calibration": res.model.calibration,
            "n_features": len(res.model.feature_names_),
            "dropped_features": ",".join(getattr(res.model, "dropped_features_", {})) or "-",
            "data_hash": registry.frame_hash(
                tables.orders[["order_id", "order_date", "total_amount"]]),
        })
        mlflow.log_metrics(res.metrics)
        _log_reliability(test, res)
        feats = res.model.feature_names_
        # features are floats to the model; integer columns in the schema would reject NaN
        example = test[["tenant_id", "customer_id", "cutoff", *feats]].head(5).astype(
            dict.fromkeys(feats, "float64"))
        # the batch scorer sends the snapshot's cutoff, the service does not: one missing
        # value makes MLflow infer the column as optional
        example.loc[example.index[-1], "cutoff"] = pd.NaT
        version = registry.log_pyfunc(ChurnPyfunc(res.model, config), name, example)
        gate = registry.promote_if_better(name, version, GATE_METRIC,
                                          res.metrics[GATE_METRIC], champion_value=champ_auc)
    return registry.outcome(FAMILY, tenant, run.info.run_id, gate, res)


def _log_reliability(test: pd.DataFrame, res: ChurnFit) -> None:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        plot = reliability_plot(test["churned"].to_numpy(),
                                res.test_frame["churn_probability"].to_numpy(),
                                Path(tmp) / "reliability.png")
        mlflow.log_artifact(str(plot), artifact_path="plots")
