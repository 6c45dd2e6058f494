"""CLI command ``oms-ml generate``: synthetic order data into the landing zone."""

from __future__ import annotations

from enum import Enum

import typer
from rich.console import Console
from rich.table import Table

from flows.apps import app
from pipelines.generator.scales import SCALES  # light: the generator loads on use

# choices follow the presets, so a new scale needs no CLI change
ScaleName = Enum("ScaleName", {name: name for name in SCALES}, type=str)


@app.command("generate")
def generate_cmd(
    scale: ScaleName = typer.Option("small", help="Size preset."),
    seed: int = typer.Option(7, help="Random seed (same seed, same data; `demo` uses 7 too)."),
    out: str = typer.Option(
        None, help="Landing root folder to write one dataset per table under "
                   "(default: OMS_ML_DATA_DIR/landing)."),
    start: str = typer.Option("2023-01-01", help="First day, YYYY-MM-DD."),
    days: int = typer.Option(None, help="Number of days (default: the scale's)."),
    tenant: str = typer.Option("demo", help="Tenant id written on every row."),
) -> None:
    """Generate a realistic order dataset (all contract tables plus churn ground truth)."""
    from pipelines.generate import generate

    console = Console()
    try:
        report = generate(scale.value, seed, out, tenant_id=tenant, start=start, days=days,
                          progress=True)
    except ValueError as e:
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(code=2) from e
    table = Table(title=f"generated {report.params['scale']} → {report.out}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in report.rows.items():
        table.add_row(name, f"{rows:,}")
    table.add_row("_truth/customer_snapshots", f"{report.truth_rows:,}")
    console.print(table)
    console.print(
        f"{report.total_rows:,} rows in {report.seconds:.1f} s "
        f"({report.total_rows / max(report.seconds, 1e-9):,.0f} rows/s), "
        f"peak RSS {report.peak_rss_mb:,.0f} MB, {report.chunks} month chunks"
    )
