"""CLI command for features: ``oms-ml features [--engine pandas|spark] ...``."""

from __future__ import annotations

from enum import StrEnum

import typer

from flows.apps import app, guard, lake_option, positive_option


class Engine(StrEnum):
    """Feature engines."""

    pandas = "pandas"
    spark = "spark"


@app.command("features")
def features_command(
    engine: Engine = typer.Option(Engine.pandas, help="pandas (in-process) or spark."),
    lake: str = lake_option(),
    out: str = typer.Option(None, help="Output root; datasets go to <root>/features/ "
                            "[settings: outputs]."),
    cutoff: str = typer.Option(
        None, help="Customer-feature cutoff day YYYY-MM-DD (default: last day - horizon)."
    ),
    horizon_days: int = positive_option(90, "Churn horizon in days."),
    top_n: int = positive_option(None, "Keep only the N best-selling SKUs in the panel."),
) -> None:
    """Compute daily order volume, the SKU demand panel and customer features from the lake."""
    from rich.console import Console
    from rich.table import Table

    from oms.settings import get_settings

    s = get_settings()
    with guard():
        from oms.lake import table_uri
        from pipelines.features import build_features

        report = build_features(
            lake or s.lake, table_uri(out or s.outputs, "features"), engine=engine.value,
            cutoff=cutoff, horizon_days=horizon_days, top_n=top_n,
            progress=lambda line: Console().print(line, markup=False, highlight=False),
        )
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
