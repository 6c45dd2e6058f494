"""CLI commands for forecasting: ``oms-ml train forecast`` and ``oms-ml forecast``."""

from __future__ import annotations

from enum import StrEnum

import typer

from flows.apps import (
    app,
    guard,
    lake_option,
    out_option,
    positive_option,
    tenant_option,
    train_app,
)


class Target(StrEnum):
    """Forecast targets (an unknown one is a usage error listing these)."""

    volume = "volume"
    sku = "sku"


TARGET_HELP = "volume (daily orders of the tenant) or sku (daily units per SKU)."


@train_app.command("forecast")
def train_forecast_command(
    target: Target = typer.Option(Target.volume, help=TARGET_HELP),
    models: str = typer.Option(
        "", help="Candidates, comma-separated: ensemble, prophet, lstm, gbm, combination, "
        "seasonal_naive (default: gbm,prophet,combination,lstm for sku; ensemble,prophet,lstm "
        "for volume)."),
    n_windows: int = positive_option(8, "Rolling backtest windows."),
    step: int = positive_option(7, "Days between backtest cutoffs."),
    top_n: int = positive_option(500, "SKU target: the N SKUs with most units."),
    lake: str = lake_option(),
    out: str = out_option(),
    tenant: str = tenant_option(),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Backtest, log to MLflow, register and gate the tenant's model; write its forecast."""
    from rich.console import Console

    kinds = [m.strip() for m in models.split(",") if m.strip()]
    with guard():
        from pipelines.backtest import as_markdown
        from pipelines.train_forecast import train_from_lake

        res = train_from_lake(lake, target.value, kinds or None, n_windows, step, top_n, tenant,
                              out, seed)
    c = Console()
    c.print(as_markdown(res.report.metrics))
    c.print(f"{res.summary()} ({res.report.chosen})")
    c.print(f"forecast written to {res.report.output_path}")
    if res.report.sales_trend_path:
        c.print(f"30-day sales trend (yhat, yhat-lo-80, yhat-hi-80) written to "
                f"{res.report.sales_trend_path}")


@app.command("forecast")
def forecast_command(
    target: Target = typer.Option(Target.volume, help=TARGET_HELP),
    horizon: int = positive_option(None, "Days ahead, 1 to the model's horizon (default: the "
                                   "model's horizon)."),
    top_n: int = positive_option(500, "SKU target: the N SKUs with most units."),
    lake: str = lake_option(),
    out: str = out_option(),
    tenant: str = tenant_option(),
) -> None:
    """Forecast with the tenant's registered champion and write the forecast dataset."""
    from rich.console import Console

    with guard():
        from pipelines.score_forecast import forecast_champion

        fc, path = forecast_champion(lake, target.value, horizon, out, tenant, top_n)
    Console().print(fc.head(14).to_string(index=False))
    Console().print(f"{len(fc)} forecast rows written to {path}")
