"""The inventory recommendation report: policy table + self-contained HTML, per tenant.

``build_inventory_report`` reads the lake (order lines, orders, products, warehouses,
inventory), forecasts SKU × warehouse demand — with the tenant's registered SKU champion
(``oms.tenancy.model_uri("sku_demand_forecaster", tenant)``, split over warehouses by their
share of the last 8 weeks' demand) when one is registered and loadable, else with the
seasonal naive baseline fitted on the SKU × warehouse history — runs
:class:`models.inventory.InventoryPolicy`, and writes the recommendation table through
:mod:`oms.outputs` (kind ``inventory_recommendations``:
``<out>/inventory_recommendations/<tenant>/inventory_recommendations.parquet``, plus a dated
copy when a run date is given) with ``recommendations.csv`` and ``report.html`` beside it,
each atomically. With a tracking store configured the files are logged to MLflow as artifacts
of a run in the ``inventory_report`` experiment.

:func:`run_inventory_report` is the daily-batch entry point (a flow task calls it): plain
arguments in, a small JSON-able summary out, and it works without any registered champion.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.forecast import SeasonalNaive
from models.inventory import InventoryPolicy
from models.inventory.quantile_gbm import LeadTimeDemandGBM
from oms.outputs import output_path, write_output
from oms.settings import get_settings
from oms.tenancy import model_uri, validate_tenant
from pipelines.inventory_data import (
    in_stock_rate,
    item_table,
    sku_warehouse_history,
    unsold_stock_items,
    warehouses_without_stock,
)

FAMILY = "sku_demand_forecaster"
KIND = "inventory_recommendations"
LEVELS = (50, 80, 95, 99)
SHARE_DAYS = 56
GBM_ORIGIN_STEP, GBM_ROUNDS = 3, 100  # as in the backtest (bench/inventory.py)
POLICY_TEXT = ("periodic review, order up to S: each SKU × warehouse is reviewed every R days "
               "(its EOQ cycle, capped; the default cap of 1 day was chosen on the backtest's "
               "validation quarter) and orders up to S, the fill-rate level of demand over "
               "lead time + R")


@dataclass
class InventoryReport:
    """What one report run produced."""

    table: pd.DataFrame
    summary: dict[str, object]
    forecast: pd.DataFrame
    history: pd.DataFrame
    paths: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None


def champion_forecast(history: pd.DataFrame, tenant: str, horizon: int,
                      stock_date: pd.Timestamp, needed: int = 1
                      ) -> tuple[pd.DataFrame | None, str]:
    """SKU champion forecast split over warehouses, or ``(None, reason)`` when unavailable.

    Up to ``horizon`` days after ``stock_date`` (as far as the champion's horizon reaches);
    fewer than ``needed`` days counts as unavailable.
    """
    if not _registry_available():
        return None, "no MLflow store (set MLFLOW_TRACKING_URI or OMS_ML_MLFLOW_TRACKING_URI)"
    try:
        import mlflow

        mlflow.set_tracking_uri(get_settings().tracking_uri)
        model = mlflow.pyfunc.load_model(model_uri(FAMILY, tenant))
        inner = model.unwrap_python_model()
        if inner.exog:
            return None, f"champion needs exogenous inputs {inner.exog[:3]}…"
        last = inner.forecaster.last_ds_
        skus = [s for s in history["sku"].unique() if s in last.index]
        if not skus:
            return None, "champion knows none of the report's SKUs"
        end = min(stock_date + pd.Timedelta(days=horizon),
                  last.loc[skus].min() + pd.Timedelta(days=int(inner.max_horizon)))
        days = pd.date_range(stock_date + pd.Timedelta(days=1), end)
        if len(days) < needed:
            return None, (f"champion's horizon covers {len(days)} days after the stock count, "
                          f"the policy needs {needed}")
        rows = pd.DataFrame([(s, d) for s in skus for d in days], columns=["unique_id", "ds"])
        fc = model.predict(rows)
    except Exception as e:  # noqa: BLE001 - any failure means: use the fallback, say why
        return None, f"no usable champion ({type(e).__name__}: {str(e)[:120]})"
    return _split_over_warehouses(fc.dropna(subset=["yhat"]), history), "champion"


def _registry_available() -> bool:
    """A configured tracking store, or the default SQLite file already exists (no side effect)."""
    if tracking_configured():
        return True
    return (get_settings().data_dir / "mlflow.db").exists()


def _split_over_warehouses(fc: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Top-down: each warehouse gets its share of the SKU's last 8 weeks of units."""
    recent = history[history["ds"] > history["ds"].max() - pd.Timedelta(days=SHARE_DAYS)]
    units = recent.groupby(["sku", "warehouse_id", "unique_id"])["y"].sum().reset_index()
    units["share"] = units["y"] / units.groupby("sku")["y"].transform("sum").replace(0, np.nan)
    out = fc.rename(columns={"unique_id": "sku"}).merge(units, on="sku")
    num = [c for c in fc.columns if c == "yhat" or c.startswith("yhat-")]
    out[num] = out[num].mul(out["share"].fillna(0), axis=0)
    return out[["unique_id", "ds", *num]]


def baseline_forecast(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Seasonal naive with empirical intervals on the SKU × warehouse series."""
    h = history[["unique_id", "ds", "y"]]
    return SeasonalNaive().fit(h).predict(horizon, level=LEVELS)


def period_forecast(history: pd.DataFrame, items: pd.DataFrame, policy: InventoryPolicy
                    ) -> tuple[pd.DataFrame | None, str]:
    """Quantiles of demand over each series' protection period ``L + R``.

    :class:`LeadTimeDemandGBM` fitted on the SKU × warehouse history (the forecaster the
    backtest validated); ``(None, reason)`` when it cannot be fitted (too short a history),
    in which case the policy samples the daily forecast instead.
    """
    days = policy.protection_days(items)
    days = days[days.index.isin(set(history["unique_id"]))]
    if days.empty:
        return None, "none: no series with history"
    try:
        model = LeadTimeDemandGBM(max_period=int(days.max()), origin_step=GBM_ORIGIN_STEP,
                                  n_estimators=GBM_ROUNDS)
        model.fit(history[["unique_id", "ds", "y"]])
        h = history[history["unique_id"].isin(days.index)][["unique_id", "ds", "y"]]
        out = model.predict(h, days)
    except ValueError as e:  # InventoryInputError: history too short for the model
        return None, f"daily forecast samples (lead-time quantile model not fitted: {e})"
    return out, (f"LeadTimeDemandGBM quantiles of demand over L + R days "
                 f"({model.n_rows_:,} training rows)")


def _summary(table: pd.DataFrame, fill: float, target: float, source: str) -> dict[str, object]:
    ok = table["method"] != "none"
    return {
        "series": int(len(table)), "skus": int(table["sku"].nunique()),
        "reorder_now": int(table["reorder_now"].sum()),
        "order_value": float(table.loc[table["reorder_now"], "order_value"].sum()),
        "value_at_risk": float(table["value_at_risk"].sum(skipna=True)),
        "excess_value": float(table["excess_value"].sum(skipna=True)),
        "fill_rate_30d": fill, "target": target, "forecast_source": source,
        "exceptions": int((table["exception"].fillna("") != "").sum()),
        "computed": int(ok.sum()),
    }


def compute_report(lake: str, tenant: str, top_n: int = 100,
                   policy: InventoryPolicy | None = None) -> InventoryReport:
    """Policy table, summary and forecast for one tenant (no files written)."""
    policy = policy or InventoryPolicy()
    history = sku_warehouse_history(lake, tenant, top_n)
    if history.empty:
        raise ValueError(f"no product sales for tenant {tenant!r} in {lake}")
    items = item_table(lake, history, tenant)
    unsold = unsold_stock_items(lake, history, tenant)
    if len(unsold):
        items = pd.concat([items, unsold], ignore_index=True)
    as_of = history["ds"].max()  # stock is rolled forward to here (inventory_data._stock)
    needed = int(np.nanmax(items["lead_time_days"].fillna(policy.default_lead_time))) + 8
    horizon = needed + 30  # the charts show a month beyond the longest protection period
    fc, source = champion_forecast(history, tenant, horizon, as_of, needed)
    if fc is None:
        source = f"seasonal naive baseline — {source}"
        fc = baseline_forecast(history, horizon)
    fc = fc[fc["ds"] > as_of]
    policy.fit(history[["unique_id", "ds", "y"]])
    period_fc, period_source = period_forecast(history, items, policy)
    table = policy.predict(fc, items, period_forecast=period_fc, as_of=as_of)
    summary = _summary(table, in_stock_rate(lake, history, tenant),
                       float(policy.service_level), source)
    summary["period_forecast"] = period_source
    summary["policy"] = POLICY_TEXT
    summary["warehouses_without_stock"] = warehouses_without_stock(lake, tenant)
    counted = pd.to_datetime(items["stock_date"]).max()
    summary["stock_date"] = f"{counted:%Y-%m-%d}" if pd.notna(counted) else "never"
    summary["as_of"] = f"{as_of:%Y-%m-%d}"
    return InventoryReport(table=_rank(table), summary=summary, forecast=fc, history=history)


def _rank(table: pd.DataFrame) -> pd.DataFrame:
    """Purchase priority: reorder-now rows by stock-out probability, then value at risk."""
    t = table.sort_values(["reorder_now", "stockout_probability", "value_at_risk"],
                          ascending=[False, False, False], kind="stable", na_position="last")
    t = t.reset_index(drop=True)
    t.insert(0, "priority", np.where(t["reorder_now"], np.arange(1, len(t) + 1), np.nan))
    return t


def _atomic_text(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(rep: InventoryReport, out_dir: str | Path | None, tenant: str,
                 run_date: str | None = None) -> dict[str, str]:
    """Write the table (parquet via :mod:`oms.outputs`, CSV) and the HTML report atomically.

    Returns the paths (``parquet``, ``csv``, ``html``; ``dated`` too with a ``run_date``).
    """
    from pipelines.inventory_html import render_html

    table = rep.table.assign(tenant_id=tenant)
    paths = {"parquet": write_output(table, KIND, tenant, root=out_dir)}
    if run_date is not None:
        paths["dated"] = write_output(table, KIND, tenant, run_date, root=out_dir)
    folder = Path(output_path(KIND, tenant, root=out_dir).removeprefix("file://")).parent
    paths["csv"], paths["html"] = str(folder / "recommendations.csv"), str(folder / "report.html")
    _atomic_text(rep.table.to_csv(index=False), Path(paths["csv"]))
    _atomic_text(render_html(rep, tenant), Path(paths["html"]))
    return paths


def tracking_configured() -> bool:
    """Whether a tracking store is configured (``MLFLOW_TRACKING_URI`` or settings)."""
    return bool(os.environ.get("MLFLOW_TRACKING_URI") or get_settings().mlflow_tracking_uri)


def log_report(paths: dict[str, str], summary: dict[str, object], tenant: str) -> str:
    """Log the report files as MLflow artifacts; returns the run id."""
    import mlflow

    mlflow.set_tracking_uri(get_settings().tracking_uri)
    mlflow.set_experiment("inventory_report")
    with mlflow.start_run(run_name=f"inventory_report_{tenant}") as run:
        mlflow.set_tag("tenant", tenant)
        mlflow.log_metrics({k: float(v) for k, v in summary.items()
                            if isinstance(v, int | float) and np.isfinite(v)})
        for k in ("parquet", "csv", "html"):
            mlflow.log_artifact(paths[k], artifact_path="inventory_report")
        return run.info.run_id


def build_inventory_report(lake: str | None = None, tenant: str | None = None,
                           out: str | None = None, top_n: int = 100,
                           policy: InventoryPolicy | None = None,
                           log_mlflow: bool | None = None,
                           run_date: str | None = None) -> InventoryReport:
    """Compute, write and (if tracking is configured) log one tenant's inventory report."""
    s = get_settings()
    tenant = validate_tenant(tenant or s.tenant_id)
    rep = compute_report(lake or s.lake, tenant, top_n, policy)
    rep.paths = write_report(rep, out or s.outputs, tenant, run_date)
    if tracking_configured() if log_mlflow is None else log_mlflow:
        rep.run_id = log_report(rep.paths, rep.summary, tenant)
    return rep


def run_inventory_report(lake: str | None = None, tenant: str | None = None,
                         out: str | None = None, run_date: str | None = None,
                         top_n: int = 100, service_level: float = 0.95,
                         log_mlflow: bool | None = None) -> dict[str, object]:
    """Daily-batch step: one tenant's inventory report; returns a JSON-able summary.

    Uses the tenant's SKU champion when one is registered and loadable, otherwise the
    seasonal naive baseline (the summary's ``forecast_source`` says which and why), so it runs
    on a fresh installation. Bad input raises ``ValueError`` (or a subclass) with a clear
    message; a Prefect task around it needs no logic of its own.

    Args:
        lake: Lake root (default: settings).
        tenant: Tenant id (default: settings).
        out: Output root (default: settings' outputs).
        run_date: Also write a dated copy of the table (``YYYY-MM-DD``).
        top_n: SKUs covered, by revenue.
        service_level: Fill-rate target in (0, 1).
        log_mlflow: Log to MLflow (default: when a tracking store is configured).
    """
    rep = build_inventory_report(lake, tenant, out, top_n,
                                 InventoryPolicy(service_level=service_level), log_mlflow,
                                 run_date)
    keep = ("series", "skus", "reorder_now", "order_value", "value_at_risk", "excess_value",
            "fill_rate_30d", "target", "forecast_source", "exceptions", "as_of")
    out_summary = {k: rep.summary[k] for k in keep if k in rep.summary}
    return {**out_summary, "paths": dict(rep.paths), "run_id": rep.run_id}
