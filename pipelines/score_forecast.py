"""Write forecasts: with a tenant's registered champion, right after training, and the sales trend.

Mirrors ``pipelines.score_churn``: ``forecast_champion`` loads
``models:/<family>__<tenant>@champion`` (never creating an MLflow store: a read-only command
pointed at a missing, empty or foreign file says so), builds the tenant's known-future rows
from the lake and writes the forecast under the tenant's partition of the outputs
(``oms.outputs``), leaving other tenants' files alone.
"""

from __future__ import annotations

import pandas as pd

from models.forecast.base import DS, ID, ForecastInputError, Y
from oms.outputs import write_output
from oms.settings import get_settings
from oms.tenancy import registered_name, validate_tenant
from pipelines.forecast_inputs import check_target, future_frame, load_series

TREND_LEVEL = 80
FALLBACK = "seasonal_naive (fallback: series too short or all zeros)"


def label_methods(forecast: pd.DataFrame, forecaster: object, name: str) -> pd.DataFrame:
    """Record in the output which method made each row: ``name`` or the documented fallback.

    Series the model could not learn from (shorter than a season, no demand at all) are
    forecast by seasonal naive (``fallback_ids_``); their rows say so in the ``model`` column.
    """
    fallback = set(getattr(forecaster, "fallback_ids_", None) or ())
    model = forecast[ID].map(lambda u: FALLBACK if u in fallback else name)
    return forecast.assign(model=model.astype(str))


def write_forecast(forecast: pd.DataFrame, target: str, tenant: str, version: str,
                   promoted: bool = True, root: str | None = None,
                   run_date: str | None = None) -> str:
    """Write a tenant's forecast; a challenger's goes beside the champion's, not over it.

    With ``run_date`` (a scheduled batch) ``created_at`` is that day and a dated copy is
    written too, so re-running the same day writes the same bytes.
    """
    kind = check_target(target)["output"] + ("" if promoted else "_challenger")
    created = (pd.Timestamp(run_date, tz="UTC") if run_date is not None
               else pd.Timestamp.now(tz="UTC"))
    df = forecast.assign(tenant_id=tenant, model_version=str(version), created_at=created)
    return write_output(df, kind, tenant, run_date=run_date, root=root)


def check_horizon(h: int | None, max_horizon: int) -> int:
    """The horizon to forecast: the model's by default; a clear error outside 1..max."""
    if h is None:
        return int(max_horizon)
    if h < 1:
        raise ValueError(f"horizon must be at least 1 day, got {h}")
    if h > max_horizon:
        raise ValueError(f"horizon {h} is beyond the champion's {max_horizon} days; train "
                         "for a longer horizon first")
    return int(h)


def forecast_champion(
    lake: str | None = None, target: str = "volume", h: int | None = None,
    output_uri: str | None = None, tenant: str | None = None, top_n: int = 500,
    run_date: str | None = None,
) -> tuple[pd.DataFrame, str]:
    """Forecast a tenant with its champion and write the forecast dataset.

    Args:
        lake: Lake root (default: settings).
        target: ``volume`` or ``sku``.
        h: Days ahead (default: the champion's longest horizon; 1..that).
        output_uri: Output root (default: settings' outputs).
        tenant: Tenant id (default: the settings' tenant).
        top_n: SKU target: the N SKUs with most units.
        run_date: Batch day: ``created_at`` and a dated copy (see :func:`write_forecast`).

    Returns:
        ``(forecast, path)``.

    Raises:
        LookupError: The tenant has no champion (or there is no MLflow store yet).
        ValueError: Unknown target, invalid tenant, bad horizon.
        TrackingStoreError: Corrupt, foreign or unreachable store.
    """
    from pipelines.registry import champion_version, configure_mlflow, load_champion

    spec = check_target(target)
    tenant = validate_tenant(tenant or get_settings().tenant_id)
    if h is not None and h < 1:
        raise ValueError(f"horizon must be at least 1 day, got {h}")
    configure_mlflow(read_only=True)
    name = registered_name(spec["family"], tenant)
    model = load_champion(name)
    adapter = model.unwrap_python_model()
    h = check_horizon(h, adapter.max_horizon)
    series, ctx = load_series(lake, target, tenant, top_n)
    last = adapter.forecaster.last_ds_
    series = series[series[ID].isin(last.index)]
    if series.empty:
        raise LookupError(f"the champion {name} knows none of the lake's series for tenant "
                          f"{tenant!r}")
    series = series[series[DS] <= series[ID].map(last)]  # forecast from the model's end
    fut = future_frame(series, ctx, h)
    fut = fut[fut[ID].isin(adapter.forecaster.ids_)]
    for c in adapter.exog:
        if c not in fut.columns:
            fut[c] = 0.0
    fc = model.predict(fut[[ID, DS, *adapter.exog]])
    fc = label_methods(fc, adapter.forecaster, type(adapter.forecaster).__name__)
    version = champion_version(name)
    path = write_forecast(fc, target, tenant, str(version.version) if version else "",
                          True, output_uri, run_date)
    return fc, path


def sales_trend_forecast(
    volume: pd.DataFrame, h: int = 30, column: str = "revenue", level: int = TREND_LEVEL,
    seed: int = 0,
) -> pd.DataFrame:
    """A 30-day trend forecast of daily sales: ``unique_id, ds, yhat, yhat-lo-80, yhat-hi-80``.

    Prophet (trend + weekly/yearly seasonality, on log sales) per series; the band is the
    ``level``% interval, named like every other forecast.
    """
    from models.forecast.prophet import ProphetForecaster

    if column not in volume.columns:
        raise ForecastInputError(f"sales trend needs a {column!r} column")
    df = volume[[ID, DS, column]].rename(columns={column: Y})
    model = ProphetForecaster(transform="log1p", random_state=seed, n_jobs=1)
    return model.fit(df).predict(h, level=(level,))


def write_sales_trend(volume: pd.DataFrame, tenant: str, h: int = 30,
                      output_uri: str | None = None) -> tuple[pd.DataFrame, str]:
    """Compute one tenant's :func:`sales_trend_forecast` and write it to its partition."""
    fc = sales_trend_forecast(volume, h=h)
    path = write_output(fc.assign(tenant_id=tenant, created_at=pd.Timestamp.now(tz="UTC")),
                        "sales_trend", tenant, root=output_uri)
    return fc, path
