"""CLI command for features: ``oms-ml features [--engine pandas|spark] ...``."""

from __future__ import annotations

import typer

from flows.apps import app


@app.command("features")
def features(
    engine: str = typer.Option("pandas", help="Engine: pandas (in-process) or spark."),
    lake: str = typer.Option(None, help="Lake root (default: the settings' lake)."),
    out: str = typer.Option(None, help="Output folder (default: <outputs>/features)."),
    cutoff: str = typer.Option(
        None, help="Customer-feature cutoff day YYYY-MM-DD (default: last day − horizon)."
    ),
    horizon_days: int = typer.Option(90, help="Churn horizon in days."),
    top_n: int = typer.Option(None, help="Keep only the N best-selling SKUs in the panel."),
) -> None:
    """Compute daily order volume, the SKU demand panel and customer features from the lake."""
    from rich.console import Console
    from rich.table import Table

    from oms.lake import LakeError, table_uri
    from oms.settings import get_settings
    from pipelines.features import build_features

    if engine not in ("pandas", "spark"):
        raise typer.BadParameter(f"engine must be pandas or spark, got {engine!r}")
    s = get_settings()
    try:
        report = build_features(
            lake or s.lake, out or table_uri(s.outputs, "features"), engine=engine,
            cutoff=cutoff, horizon_days=horizon_days, top_n=top_n,
            progress=lambda line: Console().print(line, markup=False, highlight=False),
        )
    except (LakeError, ValueError) as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(1) from e
    table = Table(title=f"features ({report.engine}, {report.seconds:.1f}s)")
    table.add_column("dataset")
    table.add_column("rows", justify="right")
    table.add_column("path")
    for name, rows in report.rows_out.items():
        table.add_row(name, f"{rows:,}", report.paths[name])
    console = Console()
    console.print(table)
    label = "with churn label" if report.labelled else "no churn label (data too short)"
    console.print(f"cutoff {report.cutoff}, horizon {report.horizon_days} days, {label}")
