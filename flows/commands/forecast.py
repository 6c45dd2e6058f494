"""CLI commands for forecasting: ``oms-ml train forecast`` and ``oms-ml forecast``."""

from __future__ import annotations

import typer

from flows.apps import app, train_app

TARGET_HELP = "volume (daily orders per tenant) or sku (daily units per SKU)."


def _fail(e: Exception) -> None:
    typer.secho(f"error: {e}", err=True, fg="red")
    raise typer.Exit(code=1) from None


@train_app.command("forecast")
def train_forecast_command(
    target: str = typer.Option("volume", help=TARGET_HELP),
    models: str = typer.Option("prophet,lstm",
                               help="Candidates, comma-separated: prophet, lstm, seasonal_naive."),
    n_windows: int = typer.Option(8, help="Rolling backtest windows."),
    step: int = typer.Option(7, help="Days between backtest cutoffs."),
    top_n: int = typer.Option(500, help="SKU target: the N SKUs with most units."),
    lake: str = typer.Option(None, help="Lake root (default: settings)."),
    out: str = typer.Option(None, help="Forecast output folder (default: settings outputs)."),
    tenant: str = typer.Option(None, help="Only this tenant (default: all)."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Backtest, log to MLflow, register, gate, and write the forecast dataset."""
    from rich.console import Console

    from models.forecast.base import ForecastInputError
    from oms.lake import LakeError
    from pipelines.backtest import as_markdown
    from pipelines.train_forecast import train_from_lake

    kinds = [m.strip() for m in models.split(",") if m.strip()]
    try:
        res, trend = train_from_lake(lake, target, kinds, n_windows, step, top_n, tenant, out,
                                     seed)
    except (LakeError, ForecastInputError, ValueError) as e:
        _fail(e)
    c = Console()
    c.print(as_markdown(res.metrics))
    c.print(f"{res.name} v{res.version} ({res.chosen}): "
            f"{'champion' if res.gate.promoted else 'challenger'} — {res.gate.reason}")
    c.print(f"forecast written to {res.output_path}")
    if trend is not None:
        c.print(f"30-day sales trend (yhat, yhat-lo-80, yhat-hi-80) written to {trend}")


@app.command("forecast")
def forecast_command(
    target: str = typer.Option("volume", help=TARGET_HELP),
    horizon: int = typer.Option(None, help="Days ahead (default: the model's horizon)."),
    top_n: int = typer.Option(500, help="SKU target: the N SKUs with most units."),
    lake: str = typer.Option(None, help="Lake root (default: settings)."),
    out: str = typer.Option(None, help="Forecast output folder (default: settings outputs)."),
    tenant: str = typer.Option(None, help="Only this tenant (default: all)."),
) -> None:
    """Forecast with the registered champion and write the forecast dataset."""
    from rich.console import Console

    from models.forecast.base import ForecastInputError
    from oms.lake import LakeError
    from pipelines.train_forecast import forecast_champion

    try:
        fc, path = forecast_champion(lake, target, horizon, out, tenant, top_n)
    except (LakeError, ForecastInputError, LookupError, ValueError) as e:
        _fail(e)
    Console().print(fc.head(14).to_string(index=False))
    Console().print(f"{len(fc)} forecast rows written to {path}")
