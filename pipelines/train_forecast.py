"""Train → backtest → log to MLflow → register → gate (a Kedro-style node plus its wiring).

Two targets share one pipeline:

* ``volume``: total daily orders per tenant (``features.demand.daily_order_volume``),
  horizons 3 and 7 days, family ``order_volume_forecaster``;
* ``sku``: units per SKU and day (``features.demand.sku_demand_panel``), horizons 7 and 30
  days, family ``sku_demand_forecaster``.

Each tenant has its own registered model ``<family>__<tenant>`` (``oms.tenancy``) and its
own champion. Every candidate and the seasonal-naive baseline are backtested on the same
rolling windows; the best by WAPE at the longest horizon is refitted on all data, logged
(params, metrics per model and horizon, forecast-vs-actual plots with intervals, influential
factors, data window and input hash) and registered. The gate re-runs the current champion's
estimator on the same windows, and the ``champion`` alias moves only if the new version is
better. Context features live in ``features.demand``; writing forecasts (with the new model
or the champion) lives in ``pipelines.score_forecast``.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from features.demand import add_regional_context, holiday_frame
from models.forecast.base import DEFAULT_LEVELS, DS, ID, BaseForecaster, Y
from models.forecast.combination import CombinationForecaster
from models.forecast.ensemble import EnsembleForecaster
from models.forecast.gbm import GBMForecaster
from models.forecast.lstm import LSTMForecaster
from models.forecast.naive import SeasonalNaive
from models.forecast.plots import plot_forecast_vs_actual, plot_importance
from models.forecast.prophet import ProphetForecaster
from models.forecast.pyfunc import ForecastPyfunc
from oms.settings import get_settings
from oms.tenancy import registered_name, validate_tenant
from pipelines.backtest import as_markdown, backtest_models, cross_validation, evaluate, score
from pipelines.forecast_inputs import (
    KNOWN_FUTURE,
    TARGETS,
    check_target,
    future_frame,
    known_exog,
    load_series,
    ordinary_future,
    prepare,
)
from pipelines.registry import (
    GateDecision,
    TrainOutcome,
    champion_version,
    configure_mlflow,
    frame_hash,
    log_pyfunc,
    outcome,
    promote_if_better,
    use_experiment,
)
from pipelines.score_forecast import label_methods

log = logging.getLogger(__name__)

GATE_METRIC = "wape"
BASELINE = "seasonal_naive"
#: Candidates per target when none are named (the gate picks the champion on backtests):
#: on SKU panels the GBM and Prophet lead the peers, each on other panels, and their
#: combination leads both on real retail demand (bench/results/forecast_peers_*.md).
DEFAULT_MODELS = {"volume": ("ensemble", "prophet", "lstm"),
                  "sku": ("gbm", "prophet", "combination", "lstm")}
#: Combination settings per target, chosen on tuning windows before the evaluation windows
#: (bench/results/forecast_sku_tuning_*.md).
COMBINATION: dict[str, dict[str, Any]] = {"sku": dict(weights=(0.3, 0.7), intervals="gbm")}
__all__ = ["KNOWN_FUTURE", "TARGETS", "ForecastReport", "add_regional_context", "check_target",
           "future_frame", "holiday_frame", "known_exog", "load_series", "make_model",
           "ordinary_future", "prepare", "train_forecast", "train_from_lake"]


def make_model(kind: str, target: str, horizon: int, exog: Sequence[str], seed: int = 0,
               holidays: pd.DataFrame | None = None, **overrides: Any) -> BaseForecaster:
    """A forecaster by name with the settings tuned for each target.

    Args:
        kind: ``seasonal_naive``, ``prophet``, ``lstm``, ``gbm``, ``combination`` (the GBM and
            Prophet of the target, see :class:`CombinationForecaster`) or ``ensemble``.
        target: ``volume`` (one long series per tenant) or ``sku`` (many intermittent series).
        horizon: Longest horizon needed.
        exog: Known-future regressors.
        seed: Random seed.
        holidays: Named holidays (``holiday, ds``) for Prophet, see :func:`holiday_frame`.
        **overrides: Constructor arguments that replace the defaults (``combination``:
            ``n_jobs`` goes to both members).
    """
    if kind == BASELINE:
        return SeasonalNaive(**overrides)
    if kind == "prophet":
        kw: dict[str, Any] = dict(regressors=list(exog), random_state=seed, n_jobs=None,
                                  holidays=holidays,
                                  transform="log1p", seasonality_mode="additive",
                                  interval_method="residuals")
        if target == "volume":  # one long series: let the trend follow recent ramps
            kw |= dict(changepoint_range=0.95, changepoint_prior_scale=0.5)
        return ProphetForecaster(**(kw | overrides))
    if kind == "lstm":
        kw = dict(horizon=horizon, exog=list(exog), random_state=seed, input_size=28,
                  max_steps=600 if target == "volume" else 1500,
                  batch_size=64 if target == "volume" else 512, hidden_size=32,
                  calibration_days=56 if target == "volume" else 28,
                  num_threads=1 if target == "volume" else None)  # tiny batches: 1 thread
        return LSTMForecaster(**(kw | overrides))
    if kind == "gbm":
        kw = dict(exog=list(exog), random_state=seed, calibration_days=max(horizon, 7))
        if target == "sku":  # chosen before the evaluation windows (forecast_sku_tuning_*.md);
            # strategy="direct" is more accurate there but costs ~7x the CPU (forecast_notes)
            kw |= dict(point="median")
        return GBMForecaster(**(kw | overrides))
    if kind == "combination":  # the GBM and Prophet of this target, quantiles averaged
        jobs = {} if "n_jobs" not in overrides else {"n_jobs": overrides.pop("n_jobs")}
        members = (("gbm", make_model("gbm", target, horizon, exog, seed, **jobs)),
                   ("prophet", make_model("prophet", target, horizon, exog, seed, holidays,
                                          **jobs)))
        kw = dict(members=members) | COMBINATION.get(target, {})
        return CombinationForecaster(**(kw | overrides))
    if kind == "ensemble":  # daily volume: naive + Theta + multiplicative Prophet, weighted
        kw = dict(regressors=list(exog), holidays=holidays, horizon=horizon, random_state=seed)
        return EnsembleForecaster(**(kw | overrides))
    raise ValueError(f"unknown model kind {kind!r}; use seasonal_naive, prophet, lstm, gbm, "
                     "combination or ensemble")


@dataclass
class ForecastReport:
    """The forecasting part of a training outcome (``TrainOutcome.report``).

    Attributes:
        chosen: Name of the model kind that was registered.
        metrics: Backtest table, one row per model and horizon.
        forecast: Forecast of the next ``max(horizons)`` days from the refitted model.
        importance: Influential factors of the registered model.
        output_path: Where the forecast dataset was written (None if not written).
        cv: Backtest frame of every model (``model`` column).
        sales_trend_path: Where the 30-day sales trend was written (volume target only).
    """

    chosen: str
    metrics: pd.DataFrame
    forecast: pd.DataFrame
    importance: pd.DataFrame
    output_path: str | None = None
    cv: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    sales_trend_path: str | None = None


def train_forecast(
    df: pd.DataFrame, target: str = "volume",
    models: Sequence[str] | dict[str, BaseForecaster] | None = None,
    horizons: Sequence[int] | None = None, n_windows: int = 8, step: int = 7,
    level: Sequence[int] = DEFAULT_LEVELS, future: pd.DataFrame | None = None,
    tenant: str | None = None, output_uri: str | None = None, seed: int = 0,
    progress: bool = True, register: str | None = None, holidays: pd.DataFrame | None = None,
) -> TrainOutcome:
    """The forecasting training pipeline (see the module docstring).

    Args:
        df: Long ``unique_id, ds, y`` + known-future columns of one tenant.
        target: ``volume`` or ``sku`` (sets family, horizons and model settings).
        models: Candidate kinds, or ready estimators by name (``None``: ``DEFAULT_MODELS`` of
            the target; an empty sequence: the seasonal-naive baseline alone); seasonal naive
            always runs.
        horizons: Horizons to report (default per target); the longest is the gate horizon.
        n_windows: Backtest windows.
        step: Days between backtest cutoffs.
        level: Interval levels.
        future: Known-future exogenous rows for the output forecast (default: ordinary days).
        tenant: Tenant (default: the settings'); registered as ``<family>__<tenant>``.
        output_uri: Output root (default: settings' outputs); ``""`` skips writing.
        seed: Random seed.
        progress: Show progress bars.
        register: Register this candidate instead of the best (the gate still decides).
        holidays: Named holidays for Prophet (``features.demand.holiday_frame``).

    Returns:
        The outcome; ``outcome.report`` is a :class:`ForecastReport`.
    """
    spec = check_target(target)
    tenant = validate_tenant(tenant or get_settings().tenant_id)
    configure_mlflow()  # a corrupt or unreachable store fails here, before the backtest
    horizons = _horizons(horizons or spec["horizons"])
    H, name = max(horizons), registered_name(spec["family"], tenant)
    exog = known_exog(df)
    data = prepare(df, exog)
    candidates = _candidates(DEFAULT_MODELS[target] if models is None else models, target, H,
                             exog, seed, holidays)
    cv = backtest_models(candidates, data, H, n_windows, step, level, exog, progress)
    table = evaluate(cv, data, horizons, level)
    chosen = _choose(table, H, register, candidates)
    final = candidates[chosen].clone().fit(data)
    future = (prepare(future, exog, target=False) if future is not None
              else ordinary_future(data, H, exog))
    forecast = final.predict(H, X_future=future if exog else None, level=level)
    importance = _importance(final)
    use_experiment(f"forecast-{target}")
    with mlflow.start_run(run_name=f"{name}-{chosen}",
                          tags={"tenant": tenant, "family": spec["family"]}) as run:
        _log_run(data, table, cv, chosen, final, importance, exog, horizons, n_windows, step)
        example = future.groupby(ID).head(min(3, H)).head(6).reset_index(drop=True)
        version = log_pyfunc(ForecastPyfunc(final, exog, H, spec=candidates[chosen]), name,
                             example[[ID, DS, *exog]])
    gate = _gate(name, version, cv[cv["model"] == chosen], data, H, n_windows, step, level,
                 exog, progress)
    path = _write(label_methods(forecast, final, chosen), target, tenant, version, gate,
                  output_uri)
    report = ForecastReport(chosen, table, forecast, importance, path, cv)
    return outcome(spec["family"], tenant, run.info.run_id, gate, report)


def _write(forecast: pd.DataFrame, target: str, tenant: str, version: str,
           gate: GateDecision, output_uri: str | None) -> str | None:
    if output_uri == "":
        return None
    from pipelines.score_forecast import write_forecast

    return write_forecast(forecast, target, tenant, version, gate.promoted, output_uri)


def _candidates(models: Sequence[str] | dict[str, BaseForecaster], target: str, H: int,
                exog: Sequence[str], seed: int, holidays: pd.DataFrame | None
                ) -> dict[str, BaseForecaster]:
    if isinstance(models, dict):
        out = dict(models)
    else:
        out = {k: make_model(k, target, H, exog, seed, holidays=holidays) for k in models}
    out.setdefault(BASELINE, SeasonalNaive())
    return {BASELINE: out.pop(BASELINE), **out}


def _horizons(horizons: Sequence[int]) -> tuple[int, ...]:
    if not horizons or min(horizons) < 1:
        raise ValueError(f"horizons must be whole days >= 1, got {list(horizons)}")
    return tuple(horizons)


def _choose(table: pd.DataFrame, H: int, register: str | None, candidates: dict) -> str:
    """The candidate to register: ``register`` if given, else the best WAPE at ``H``."""
    if register is not None:
        if register not in candidates:
            raise ValueError(f"register={register!r} is not one of the candidates "
                             f"{list(candidates)}")
        return register
    t = table[table["horizon"] == H].sort_values(GATE_METRIC)
    return str(t["model"].iloc[0])


def _importance(model: BaseForecaster) -> pd.DataFrame:
    if hasattr(model, "feature_importance"):
        return model.feature_importance()
    return pd.DataFrame({"feature": ["last_season"], "importance": [1.0]})


def _log_run(
    data: pd.DataFrame, table: pd.DataFrame, cv: pd.DataFrame, chosen: str,
    final: BaseForecaster, importance: pd.DataFrame, exog: Sequence[str],
    horizons: Sequence[int], n_windows: int, step: int,
) -> None:
    H = max(horizons)
    params = {k: (v if isinstance(v, int | float | str | bool) or v is None else str(v))
              for k, v in final.get_params().items() if not isinstance(v, pd.DataFrame)}
    mlflow.log_params({"model": chosen, "estimator": type(final).__name__,
                       "horizons": ",".join(map(str, horizons)), "n_windows": n_windows,
                       "step": step, "exog": ",".join(exog) or "-",
                       "data_start": str(data[DS].min().date()),
                       "data_end": str(data[DS].max().date()),
                       "n_series": data[ID].nunique(), "n_rows": len(data),
                       "input_hash": frame_hash(data[[ID, DS, Y]])}
                      | {f"est_{k}": v for k, v in params.items()})
    for _, r in table.iterrows():
        for m in ("wape", "accuracy", "mase", "smape", "pinball", "coverage_80", "coverage_95"):
            if m in r and pd.notna(r[m]):
                mlflow.log_metric(f"{r['model']}_h{r['horizon']}_{m}", float(r[m]))
    best = table[(table["model"] == chosen) & (table["horizon"] == H)].iloc[0]
    for m in ("wape", "accuracy", "mase", "coverage_80", "coverage_95"):
        if m in best and pd.notna(best[m]):
            mlflow.log_metric(m, float(best[m]))
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        table.to_csv(t / "backtest_metrics.csv", index=False)
        (t / "backtest_metrics.md").write_text(as_markdown(table))
        importance.to_csv(t / "influential_factors.csv", index=False)
        (t / "data_window.json").write_text(json.dumps(
            {"start": str(data[DS].min().date()), "end": str(data[DS].max().date()),
             "cutoffs": [str(c.date()) for c in sorted(cv["cutoff"].unique())]}))
        mlflow.log_artifacts(tmp, "backtest")
    fig = plot_forecast_vs_actual(cv[cv["model"] == chosen], data,
                                  title=f"{chosen}: backtest forecast vs actual")
    mlflow.log_figure(fig, "plots/forecast_vs_actual.png")
    mlflow.log_figure(plot_importance(importance, f"{chosen}: influential factors"),
                      "plots/influential_factors.png")


def _gate(
    name: str, version: str, cand_cv: pd.DataFrame, data: pd.DataFrame, H: int,
    n_windows: int, step: int, level: Sequence[int], exog: Sequence[str], progress: bool,
) -> GateDecision:
    """Re-score the current champion's estimator on the same windows, then gate."""
    cand = score(cand_cv[(cand_cv[DS] - cand_cv["cutoff"]).dt.days <= H], data, level)
    champ_value = None
    current = champion_version(name)
    if current is not None and str(current.version) != str(version):
        champ = mlflow.pyfunc.load_model(f"models:/{name}/{current.version}")
        adapter = champ.unwrap_python_model()
        if set(adapter.exog) <= set(data.columns):
            ccv = cross_validation(adapter.spec, data, H, n_windows, step, level,
                                   list(adapter.exog), progress=progress, name="champion")
            champ_value = score(ccv, data, level)[GATE_METRIC]
        else:
            log.warning("champion v%s needs columns %s not in the data; gating on its logged "
                        "%s", current.version, adapter.exog, GATE_METRIC)
    return promote_if_better(name, version, GATE_METRIC, cand[GATE_METRIC],
                             higher_is_better=False, champion_value=champ_value)


def train_from_lake(
    lake: str | None = None, target: str = "volume",
    models: Sequence[str] | None = None, n_windows: int = 8, step: int = 7,
    top_n: int = 500, tenant: str | None = None, output_uri: str | None = None,
    seed: int = 0, progress: bool = True, register: str | None = None,
) -> TrainOutcome:
    """Lake → features → :func:`train_forecast` for one tenant (+ its 30-day sales trend).

    The one call a flow or the CLI needs. The store is checked before the lake is read or
    anything is backtested. ``outcome.report.sales_trend_path`` names the sales-trend
    dataset (None for ``sku``). ``register`` is passed to :func:`train_forecast`.
    """
    spec = check_target(target)
    tenant = validate_tenant(tenant or get_settings().tenant_id)
    configure_mlflow()
    series, ctx = load_series(lake, target, tenant, top_n)
    h = max(spec["horizons"])
    res = train_forecast(series, target, models, n_windows=n_windows, step=step,
                         future=future_frame(series, ctx, h), tenant=tenant,
                         output_uri=output_uri, seed=seed, progress=progress,
                         holidays=holiday_frame(ctx), register=register)
    if target == "volume" and "revenue" in series.columns and output_uri != "":
        from pipelines.score_forecast import write_sales_trend

        res.report.sales_trend_path = write_sales_trend(series, tenant, 30, output_uri)[1]
    return res
