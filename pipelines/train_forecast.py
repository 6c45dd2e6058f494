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
import numpy as np
import pandas as pd

from features.demand import REGIONAL, WEATHER_COLUMNS, add_regional_context, holiday_frame
from models.forecast.base import DEFAULT_LEVELS, DS, ID, BaseForecaster, ForecastInputError, Y
from models.forecast.lstm import LSTMForecaster
from models.forecast.naive import SeasonalNaive
from models.forecast.plots import plot_forecast_vs_actual, plot_importance
from models.forecast.prophet import ProphetForecaster
from models.forecast.pyfunc import ForecastPyfunc
from oms.settings import get_settings
from oms.tenancy import registered_name, validate_tenant
from pipelines.backtest import as_markdown, backtest_models, cross_validation, evaluate, score
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

log = logging.getLogger(__name__)

TARGETS: dict[str, dict[str, Any]] = {
    "volume": {"family": "order_volume_forecaster", "horizons": (3, 7),
               "output": "order_volume_forecast"},
    "sku": {"family": "sku_demand_forecaster", "horizons": (7, 30),
            "output": "sku_demand_forecast"},
}
#: Exogenous columns known ahead (holiday calendar, planned promotions, weather forecast).
KNOWN_FUTURE = ("is_holiday", "has_promotion", "promotion_intensity", "temperature_c",
                *WEATHER_COLUMNS, *REGIONAL)
GATE_METRIC = "wape"
BASELINE = "seasonal_naive"
__all__ = ["KNOWN_FUTURE", "TARGETS", "ForecastReport", "add_regional_context", "check_target",
           "future_frame", "holiday_frame", "known_exog", "load_series", "make_model",
           "ordinary_future", "prepare", "train_forecast", "train_from_lake"]


def check_target(target: str) -> dict[str, Any]:
    """The settings of ``target``; a clear ``ValueError`` for an unknown one."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: use one of {', '.join(sorted(TARGETS))}")
    return TARGETS[target]


def known_exog(df: pd.DataFrame) -> list[str]:
    """The known-future columns present in ``df`` that vary (constant columns carry nothing)."""
    return [c for c in KNOWN_FUTURE if c in df.columns and df[c].nunique(dropna=True) > 1]


def prepare(df: pd.DataFrame, exog: Sequence[str], target: bool = True) -> pd.DataFrame:
    """Keep ``unique_id, ds, y`` + exog; fill missing temperatures within each series.

    Days without context have NaN temperature (see ``features.demand``); they are filled
    forward/backward within the series, then with the overall mean. ``target=False`` for
    future rows (no ``y``).
    """
    keys = [ID, DS, Y] if target else [ID, DS]
    missing = [c for c in (*keys, *exog) if c not in df.columns]
    if missing:
        raise ForecastInputError(f"forecast input is missing column(s) {missing}")
    out = df[[*keys, *exog]].copy()
    out[ID] = out[ID].astype(str)
    out[DS] = pd.to_datetime(out[DS])
    for c in exog:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
        if out[c].isna().any():
            out[c] = out.groupby(ID)[c].transform(lambda s: s.ffill().bfill())
            out[c] = out[c].fillna(out[c].mean()).fillna(0.0)
    return out.sort_values([ID, DS], ignore_index=True)


def ordinary_future(df: pd.DataFrame, h: int, exog: Sequence[str]) -> pd.DataFrame:
    """Future exogenous rows when no planned context exists: an ordinary day.

    No holiday and no promotion; temperature and weather as the mean of the last 7 days.
    Prefer real planned context (``features.demand.context_for_dates``) when available.
    """
    last = df.groupby(ID)[DS].max()
    rows = pd.DataFrame({ID: np.repeat(last.index.to_numpy(), h),
                         DS: np.repeat(last.to_numpy(), h)
                         + pd.to_timedelta(np.tile(np.arange(1, h + 1), len(last)), unit="D")})
    recent = df[df[DS] > df[ID].map(last) - pd.Timedelta(days=7)].groupby(ID)[list(exog)].mean()
    rows = rows.merge(recent, left_on=ID, right_index=True, how="left")
    for c in ("is_holiday", "has_promotion", "promotion_intensity"):
        if c in rows:
            rows[c] = 0.0
    return rows


def make_model(kind: str, target: str, horizon: int, exog: Sequence[str], seed: int = 0,
               holidays: pd.DataFrame | None = None, **overrides: Any) -> BaseForecaster:
    """A forecaster by name with the settings tuned for each target.

    Args:
        kind: ``seasonal_naive``, ``prophet`` or ``lstm``.
        target: ``volume`` (one long series per tenant) or ``sku`` (many intermittent series).
        horizon: Longest horizon needed.
        exog: Known-future regressors.
        seed: Random seed.
        holidays: Named holidays (``holiday, ds``) for Prophet, see :func:`holiday_frame`.
        **overrides: Constructor arguments that replace the defaults.
    """
    if kind == BASELINE:
        return SeasonalNaive(**overrides)
    if kind == "prophet":
        kw: dict[str, Any] = dict(regressors=list(exog), seed=seed, n_jobs=None,
                                  holidays=holidays,
                                  transform="log1p", seasonality_mode="additive",
                                  interval_method="residuals")
        if target == "volume":  # one long series: let the trend follow recent ramps
            kw |= dict(changepoint_range=0.95, changepoint_prior_scale=0.5)
        return ProphetForecaster(**(kw | overrides))
    if kind == "lstm":
        kw = dict(horizon=horizon, exog=list(exog), seed=seed, input_size=28,
                  max_steps=600 if target == "volume" else 1500,
                  batch_size=64 if target == "volume" else 512, hidden_size=32,
                  calibration_days=56 if target == "volume" else 28,
                  num_threads=1 if target == "volume" else None)  # tiny batches: 1 thread
        return LSTMForecaster(**(kw | overrides))
    raise ValueError(f"unknown model kind {kind!r}; use seasonal_naive, prophet or lstm")


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
    df: pd.DataFrame,
    target: str = "volume",
    models: Sequence[str] | dict[str, BaseForecaster] = ("prophet", "lstm"),
    horizons: Sequence[int] | None = None,
    n_windows: int = 8,
    step: int = 7,
    level: Sequence[int] = DEFAULT_LEVELS,
    future: pd.DataFrame | None = None,
    tenant: str | None = None,
    output_uri: str | None = None,
    seed: int = 0,
    progress: bool = True,
    register: str | None = None,
    holidays: pd.DataFrame | None = None,
) -> TrainOutcome:
    """The forecasting training pipeline (see the module docstring).

    Args:
        df: Long frame ``unique_id, ds, y`` + known-future columns of one tenant (e.g. the
            output of ``features.demand.daily_order_volume`` or ``sku_demand_panel``).
        target: ``volume`` or ``sku`` (sets family, horizons and model settings).
        models: Candidate kinds, or ready estimators by name; seasonal naive always runs.
        horizons: Horizons to report (default per target); the longest is the gate horizon.
        n_windows: Backtest windows.
        step: Days between backtest cutoffs.
        level: Interval levels.
        future: Known-future exogenous rows for the output forecast (default: ordinary days).
        tenant: Tenant the model is for (default: the settings' tenant); it is registered as
            ``<family>__<tenant>``.
        output_uri: Output root for the forecast dataset (default: settings' outputs); pass an
            empty string to skip writing.
        seed: Random seed.
        progress: Show progress bars.
        register: Register this candidate instead of the best one (the gate still decides
            whether it becomes champion).
        holidays: Named holidays for Prophet (``features.demand.holiday_frame``).

    Returns:
        The train-and-gate outcome; ``outcome.report`` is a :class:`ForecastReport`.
    """
    spec = check_target(target)
    tenant = validate_tenant(tenant or get_settings().tenant_id)
    configure_mlflow()  # a corrupt or unreachable store fails here, before the backtest
    horizons = tuple(horizons or spec["horizons"])
    if not horizons or min(horizons) < 1:
        raise ValueError(f"horizons must be whole days >= 1, got {list(horizons)}")
    H, name = max(horizons), registered_name(spec["family"], tenant)
    exog = known_exog(df)
    data = prepare(df, exog)
    candidates = _candidates(models, target, H, exog, seed, holidays)
    cv = backtest_models(candidates, data, H, n_windows, step, level, exog, progress)
    table = evaluate(cv, data, horizons, level)
    chosen = register or _choose(table, H)
    if chosen not in candidates:
        raise ValueError(f"register={chosen!r} is not one of the candidates {list(candidates)}")
    final = candidates[chosen].clone().fit(data)
    future = (prepare(future, exog, target=False) if future is not None
              else ordinary_future(data, H, exog))
    forecast = final.predict(H, X_future=future if exog else None, level=level)
    importance = _importance(final)
    use_experiment(f"forecast-{target}")
    with mlflow.start_run(run_name=f"{name}-{chosen}") as run:
        mlflow.set_tags({"tenant": tenant, "family": spec["family"]})
        _log_run(data, table, cv, chosen, final, importance, exog, horizons, n_windows, step)
        pyfunc = ForecastPyfunc(final, exog, H, spec=candidates[chosen])
        example = future.groupby(ID).head(min(3, H)).head(6).reset_index(drop=True)
        version = log_pyfunc(pyfunc, name, example[[ID, DS, *exog]])
    gate = _gate(name, version, cv[cv["model"] == chosen], data, H, n_windows, step, level,
                 exog, progress)
    path = None
    if output_uri != "":
        from pipelines.score_forecast import write_forecast

        path = write_forecast(forecast.assign(model=chosen), target, tenant, version,
                              gate.promoted, output_uri)
    report = ForecastReport(chosen, table, forecast, importance, path, cv)
    return outcome(spec["family"], tenant, run.info.run_id, gate, report)


def _candidates(models: Sequence[str] | dict[str, BaseForecaster], target: str, H: int,
                exog: Sequence[str], seed: int, holidays: pd.DataFrame | None
                ) -> dict[str, BaseForecaster]:
    if isinstance(models, dict):
        out = dict(models)
    else:
        out = {k: make_model(k, target, H, exog, seed, holidays=holidays) for k in models}
    out.setdefault(BASELINE, SeasonalNaive())
    return {BASELINE: out.pop(BASELINE), **out}


def _choose(table: pd.DataFrame, H: int) -> str:
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


# ----------------------------------------------------------------------------- lake I/O
def load_series(
    lake: str | None = None, target: str = "volume", tenant: str | None = None,
    top_n: int = 500,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Build one tenant's training frame from the lake: daily volume or the top-N SKU panel.

    Args:
        lake: Lake root (default: settings).
        target: ``volume`` or ``sku``.
        tenant: Tenant id (default: the settings' tenant); only its rows are read.
        top_n: SKU target: the N SKUs with most units.

    Returns:
        ``(series, daily_context)``; the context (None if absent) also serves future days.

    Raises:
        ValueError: Unknown target, invalid tenant id, or no orders of that tenant.
    """
    import pyarrow.dataset as pads

    from features.demand import daily_order_volume, sku_demand_panel
    from oms.lake import exists, read_table, table_uri

    check_target(target)
    tenant = validate_tenant(tenant or get_settings().tenant_id)
    lake = lake or get_settings().lake
    flt = pads.field("tenant_id") == tenant
    ctx_uri = table_uri(lake, "daily_context")
    ctx = read_table(ctx_uri, filter=flt) if exists(ctx_uri) else None
    if target == "volume":
        rows = read_table(table_uri(lake, "orders"),
                          ["tenant_id", "order_date", "total_amount"], flt)
    else:
        rows = read_table(table_uri(lake, "order_lines"),
                          ["tenant_id", "sku", "quantity", "is_product", "order_date"], flt)
    if rows.empty:
        raise ValueError(f"tenant {tenant!r} has no orders in {lake}")
    series = (daily_order_volume(rows, ctx) if target == "volume"
              else sku_demand_panel(rows, ctx, top_n=top_n))
    return add_regional_context(series, ctx), ctx


def future_frame(series: pd.DataFrame, daily_context: pd.DataFrame | None, h: int
                 ) -> pd.DataFrame:
    """Known-future rows (``unique_id, ds`` + context columns) for the next ``h`` days.

    Planned context (holidays, promotions, weather forecast) comes from ``daily_context``
    where it reaches into the future; days it does not cover are ordinary days
    (:func:`ordinary_future`).
    """
    from features.demand import context_for_dates

    exog = known_exog(series)
    base = ordinary_future(prepare(series, exog), h, exog)
    if daily_context is None or daily_context.empty:
        return base
    tenants = (series.drop_duplicates(ID).set_index(ID)["tenant_id"] if "tenant_id" in series
               else None)
    dates = base[[ID, DS]].assign(
        tenant_id=base[ID].map(tenants) if tenants is not None else base[ID])
    planned = context_for_dates(daily_context, dates.drop(columns=[ID]) if tenants is not None
                                else dates.drop(columns=["tenant_id"]))
    planned[ID] = base[ID].to_numpy()
    planned = add_regional_context(planned, daily_context)
    known = pd.to_datetime(daily_context["date"]).max()
    use = (planned[DS] <= known).to_numpy()
    for c in exog:
        if c in planned:
            base.loc[use, c] = planned.loc[use, c].to_numpy()
    return base


def train_from_lake(
    lake: str | None = None, target: str = "volume",
    models: Sequence[str] = ("prophet", "lstm"), n_windows: int = 8, step: int = 7,
    top_n: int = 500, tenant: str | None = None, output_uri: str | None = None,
    seed: int = 0, progress: bool = True,
) -> TrainOutcome:
    """Lake → features → :func:`train_forecast` for one tenant (+ its 30-day sales trend).

    The one call a flow or the CLI needs. The store is checked before the lake is read or
    anything is backtested. ``outcome.report.sales_trend_path`` names the sales-trend
    dataset (None for ``sku``).
    """
    spec = check_target(target)
    tenant = validate_tenant(tenant or get_settings().tenant_id)
    configure_mlflow()
    series, ctx = load_series(lake, target, tenant, top_n)
    h = max(spec["horizons"])
    res = train_forecast(series, target, models, n_windows=n_windows, step=step,
                         future=future_frame(series, ctx, h), tenant=tenant,
                         output_uri=output_uri, seed=seed, progress=progress,
                         holidays=holiday_frame(ctx))
    if target == "volume" and "revenue" in series.columns and output_uri != "":
        from pipelines.score_forecast import write_sales_trend

        res.report.sales_trend_path = write_sales_trend(series, tenant, 30, output_uri)[1]
    return res
