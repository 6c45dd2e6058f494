"""Train → backtest → log to MLflow → register → gate → write the forecast dataset.

Two targets share one pipeline:

* ``volume``: total daily orders per tenant (``features.demand.daily_order_volume``),
  horizons 3 and 7 days, registered as ``order_volume_forecaster``;
* ``sku``: units per SKU and day (``features.demand.sku_demand_panel``), horizons 7 and 30
  days, registered as ``sku_demand_forecaster``.

Every candidate and the seasonal-naive baseline are backtested on the same rolling windows;
the best by WAPE at the longest horizon is refitted on all data, logged (params, metrics per
model and horizon, forecast-vs-actual plots with intervals, influential factors, data window
and input hash) and registered. The gate re-runs the current champion's estimator on the
same windows, and the ``champion`` alias moves only if the new version is better.
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

from models.forecast.base import DEFAULT_LEVELS, DS, ID, BaseForecaster, ForecastInputError, Y
from models.forecast.lstm import LSTMForecaster
from models.forecast.naive import SeasonalNaive
from models.forecast.plots import plot_forecast_vs_actual, plot_importance
from models.forecast.prophet import ProphetForecaster
from models.forecast.pyfunc import ForecastPyfunc
from oms.settings import get_settings
from pipelines.backtest import as_markdown, backtest_models, cross_validation, evaluate, score
from pipelines.registry import (
    GateDecision,
    champion_version,
    configure_mlflow,
    frame_hash,
    log_pyfunc,
    promote_if_better,
)

log = logging.getLogger(__name__)

TARGETS: dict[str, dict[str, Any]] = {
    "volume": {"name": "order_volume_forecaster", "horizons": (3, 7)},
    "sku": {"name": "sku_demand_forecaster", "horizons": (7, 30)},
}
#: Exogenous columns known ahead (holiday calendar, planned promotions, weather forecast).
KNOWN_FUTURE = ("is_holiday", "has_promotion", "promotion_intensity", "temperature_c",
                "weather_sunny", "weather_cloudy", "weather_rain", "weather_snow",
                "weather_storm", "promotion_mean", "rain_share", "snow_share", "storm_share")
#: Region-averaged context (see :func:`regional_context`).
REGIONAL = ("promotion_mean", "rain_share", "snow_share", "storm_share")
GATE_METRIC = "wape"
BASELINE = "seasonal_naive"


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
    raise ValueError(f"unknown model kind {kind!r}; use seasonal_naive, prophet or lstm")


@dataclass
class TrainResult:
    """What one training run produced.

    Attributes:
        name: Registered model name.
        version: New model version.
        run_id: MLflow run id.
        chosen: Name of the model kind that was registered.
        metrics: Backtest table, one row per model and horizon.
        gate: The promotion decision.
        forecast: Forecast of the next ``max(horizons)`` days from the refitted model.
        importance: Influential factors of the registered model.
        output_path: Where the forecast dataset was written (None if not written).
        cv: Backtest frame of every model (``model`` column).
    """

    name: str
    version: str
    run_id: str
    chosen: str
    metrics: pd.DataFrame
    gate: GateDecision
    forecast: pd.DataFrame
    importance: pd.DataFrame
    output_path: str | None = None
    cv: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def train_forecast(
    df: pd.DataFrame,
    target: str = "volume",
    models: Sequence[str] | dict[str, BaseForecaster] = ("prophet", "lstm"),
    horizons: Sequence[int] | None = None,
    n_windows: int = 8,
    step: int = 7,
    level: Sequence[int] = DEFAULT_LEVELS,
    future: pd.DataFrame | None = None,
    registered_name: str | None = None,
    output_uri: str | None = None,
    seed: int = 0,
    progress: bool = True,
    register: str | None = None,
    holidays: pd.DataFrame | None = None,
) -> TrainResult:
    """The forecasting training pipeline (see the module docstring).

    Args:
        df: Long frame ``unique_id, ds, y`` + known-future columns (e.g. the output of
            ``features.demand.daily_order_volume`` or ``sku_demand_panel``).
        target: ``volume`` or ``sku`` (sets name, horizons and model settings).
        models: Candidate kinds, or ready estimators by name; seasonal naive always runs.
        horizons: Horizons to report (default per target); the longest is the gate horizon.
        n_windows: Backtest windows.
        step: Days between backtest cutoffs.
        level: Interval levels.
        future: Known-future exogenous rows for the output forecast (default: ordinary days).
        registered_name: Registry name (default per target).
        output_uri: Folder for the forecast dataset (default: settings' outputs/forecasts);
            pass an empty string to skip writing.
        seed: Random seed.
        progress: Show progress bars.
        register: Register this candidate instead of the best one (the gate still decides
            whether it becomes champion).
        holidays: Named holidays for Prophet (:func:`holiday_frame` of the daily context).
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {sorted(TARGETS)}, got {target!r}")
    horizons = tuple(horizons or TARGETS[target]["horizons"])
    H, name = max(horizons), registered_name or TARGETS[target]["name"]
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
    configure_mlflow()
    mlflow.set_experiment(f"forecast-{target}")
    with mlflow.start_run(run_name=f"{name}-{chosen}") as run:
        _log_run(data, table, cv, chosen, final, importance, exog, horizons, n_windows, step)
        pyfunc = ForecastPyfunc(final, exog, H, spec=candidates[chosen])
        example = future.groupby(ID).head(min(3, H)).head(6).reset_index(drop=True)
        version = log_pyfunc(pyfunc, name, example[[ID, DS, *exog]])
    gate = _gate(name, version, cv[cv["model"] == chosen], data, H, n_windows, step, level,
                 exog, progress)
    path = _write_forecast(forecast, name, version, chosen, output_uri, gate.promoted)
    return TrainResult(name, version, run.info.run_id, chosen, table, gate, forecast,
                       importance, path, cv)


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


def _write_forecast(
    forecast: pd.DataFrame, name: str, version: str, chosen: str, output_uri: str | None,
    promoted: bool,
) -> str | None:
    """Write the champion's forecast to ``<name>.parquet``; a challenger's beside it."""
    if output_uri == "":
        return None
    from oms.lake import write_frame

    root = output_uri or f"{get_settings().outputs.rstrip('/')}/forecasts"
    path = f"{root.rstrip('/')}/{name}{'' if promoted else '.challenger'}.parquet"
    write_frame(forecast.assign(model=chosen, model_version=version,
                                created_at=pd.Timestamp.now(tz="UTC")), path)
    return path


def sales_trend_forecast(
    volume: pd.DataFrame, h: int = 30, column: str = "revenue", level: int = 80,
    seed: int = 0,
) -> pd.DataFrame:
    """A 30-day trend forecast of daily sales: ``unique_id, ds, yhat, yhat-lo-80, yhat-hi-80``.

    Prophet (trend + weekly/yearly seasonality, on log sales) per tenant; the band is the
    ``level``% interval.
    """
    if column not in volume.columns:
        raise ForecastInputError(f"sales trend needs a {column!r} column")
    df = volume[[ID, DS, column]].rename(columns={column: Y})
    model = ProphetForecaster(transform="log1p", random_state=seed, n_jobs=1)
    return model.fit(df).predict(h, level=(level,))


# ----------------------------------------------------------------------------- lake I/O
def load_series(
    lake: str | None = None, target: str = "volume", tenant: str | None = None,
    top_n: int = 500,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Build the training frame from the lake: daily volume or the top-N SKU panel.

    Returns:
        ``(series, daily_context)``; the context (None if absent) also serves future days.
    """
    from features.demand import daily_order_volume, sku_demand_panel
    from oms.lake import exists, read_table, table_uri

    lake = lake or get_settings().lake
    ctx_uri = table_uri(lake, "daily_context")
    ctx = read_table(ctx_uri) if exists(ctx_uri) else None
    flt = None
    if tenant is not None:
        import pyarrow.dataset as pads

        flt = pads.field("tenant_id") == tenant
        ctx = ctx[ctx["tenant_id"] == tenant] if ctx is not None else None
    if target == "volume":
        orders = read_table(table_uri(lake, "orders"),
                            ["tenant_id", "order_date", "total_amount"], flt)
        return add_regional_context(daily_order_volume(orders, ctx), ctx), ctx
    if target == "sku":
        lines = read_table(table_uri(lake, "order_lines"),
                           ["tenant_id", "sku", "quantity", "is_product", "order_date"], flt)
        return add_regional_context(sku_demand_panel(lines, ctx, top_n=top_n), ctx), ctx
    raise ValueError(f"target must be one of {sorted(TARGETS)}, got {target!r}")


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


def forecast_champion(
    lake: str | None = None, target: str = "volume", h: int | None = None,
    output_uri: str | None = None, tenant: str | None = None, top_n: int = 500,
) -> tuple[pd.DataFrame, str]:
    """Forecast with ``models:/<name>@champion`` and write the forecast dataset.

    Returns:
        ``(forecast, path)``.
    """
    from oms.lake import write_frame
    from pipelines.registry import load_champion

    name = TARGETS[target]["name"]
    configure_mlflow()
    model = load_champion(name)
    adapter = model.unwrap_python_model()
    h = h or adapter.max_horizon
    series, ctx = load_series(lake, target, tenant, top_n)
    last = adapter.forecaster.last_ds_
    series = series[series[ID].isin(last.index)]
    series = series[series[DS] <= series[ID].map(last)]  # forecast from the model's end
    fut = future_frame(series, ctx, h)
    fut = fut[fut[ID].isin(adapter.forecaster.ids_)]
    for c in adapter.exog:
        if c not in fut.columns:
            fut[c] = 0.0
    fc = model.predict(fut[[ID, DS, *adapter.exog]])
    version = champion_version(name)
    root = output_uri or f"{get_settings().outputs.rstrip('/')}/forecasts"
    path = f"{root.rstrip('/')}/{name}.parquet"
    write_frame(fc.assign(model_version=str(version.version) if version else "",
                          created_at=pd.Timestamp.now(tz="UTC")), path)
    return fc, path


def write_sales_trend(volume: pd.DataFrame, h: int = 30, output_uri: str | None = None
                      ) -> tuple[pd.DataFrame, str]:
    """Compute :func:`sales_trend_forecast` on daily revenue and write ``sales_trend.parquet``."""
    from oms.lake import write_frame

    fc = sales_trend_forecast(volume, h=h)
    root = output_uri or f"{get_settings().outputs.rstrip('/')}/forecasts"
    path = f"{root.rstrip('/')}/sales_trend.parquet"
    write_frame(fc.assign(created_at=pd.Timestamp.now(tz="UTC")), path)
    return fc, path


# ----------------------------------------------------------------------------- context
def regional_context(daily_context: pd.DataFrame) -> pd.DataFrame:
    """Region-averaged context per tenant and day.

    ``features.demand`` keeps the *maximum* promotion intensity over regions, so a flash sale
    in one city looks national; a tenant's volume moves with the *mean* over regions. Same
    for bad weather: the share of regions with rain, snow or a storm.

    Returns:
        ``tenant_id, ds`` + :data:`REGIONAL`.
    """
    c = daily_context
    out = pd.DataFrame({
        "tenant_id": c["tenant_id"].astype(str).to_numpy(),
        DS: pd.to_datetime(c["date"]).to_numpy(),
        "promotion_mean": c["promotion_intensity"].fillna(0.0).astype(float).to_numpy(),
        "rain_share": (c["weather"] == "rain").to_numpy(float),
        "snow_share": (c["weather"] == "snow").to_numpy(float),
        "storm_share": (c["weather"] == "storm").to_numpy(float),
    })
    return out.groupby(["tenant_id", DS], as_index=False)[list(REGIONAL)].mean()


def add_regional_context(series: pd.DataFrame, daily_context: pd.DataFrame | None
                         ) -> pd.DataFrame:
    """Add :data:`REGIONAL` columns (0 on days without context) to a volume or SKU frame."""
    if daily_context is None or daily_context.empty or series.empty:
        return series
    key = "tenant_id" if "tenant_id" in series.columns else ID
    reg = regional_context(daily_context).rename(columns={"tenant_id": key})
    out = series.merge(reg, on=[key, DS], how="left")
    out[list(REGIONAL)] = out[list(REGIONAL)].fillna(0.0)
    return out


def holiday_frame(daily_context: pd.DataFrame | None) -> pd.DataFrame | None:
    """Named holidays (``holiday, ds``) from the context, for Prophet's per-holiday effects.

    A binary holiday flag mixes opposite effects (the Spring Festival slump, the Double 11
    peak); one effect per name separates them.
    """
    if daily_context is None or "holiday_name" not in daily_context:
        return None
    c = daily_context[daily_context["holiday_name"].notna()]
    if c.empty:
        return None
    out = pd.DataFrame({"holiday": c["holiday_name"].astype(str).to_numpy(),
                        DS: pd.to_datetime(c["date"]).to_numpy()})
    return out.drop_duplicates().sort_values([DS, "holiday"], ignore_index=True)


def train_from_lake(
    lake: str | None = None, target: str = "volume",
    models: Sequence[str] = ("prophet", "lstm"), n_windows: int = 8, step: int = 7,
    top_n: int = 500, tenant: str | None = None, output_uri: str | None = None,
    seed: int = 0, progress: bool = True,
) -> tuple[TrainResult, str | None]:
    """Lake → features → :func:`train_forecast` (+ the 30-day sales trend for ``volume``).

    The one call a flow or the CLI needs. Returns the training result and the path of the
    sales-trend dataset (None for ``sku``).
    """
    series, ctx = load_series(lake, target, tenant, top_n)
    h = max(TARGETS[target]["horizons"])
    res = train_forecast(series, target, models, n_windows=n_windows, step=step,
                         future=future_frame(series, ctx, h), output_uri=output_uri,
                         seed=seed, progress=progress, holidays=holiday_frame(ctx))
    trend = None
    if target == "volume" and "revenue" in series.columns and output_uri != "":
        trend = write_sales_trend(series, 30, output_uri)[1]
    return res, trend
