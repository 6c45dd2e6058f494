"""CLI command for ingest: ``oms-ml ingest`` (landing → validated lake + quarantine)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from flows.apps import app

if TYPE_CHECKING:
    from rich.table import Table

    from pipelines.ingest import IngestReport


@app.command("ingest")
def ingest_command(
    landing: str = typer.Option(None, help="Landing root or one parquet file [settings]."),
    lake: str = typer.Option(None, help="Lake root for valid rows [settings]."),
    quarantine: str = typer.Option(None, help="Quarantine root [settings]."),
    table: list[str] = typer.Option(None, "--table", "-t",
                                    help="Only this table (repeatable); default: all present."),
    batch_rows: int = typer.Option(250_000, help="Rows per batch (bounds memory)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Validate landed parquet against the contract: valid rows to the lake, others quarantined."""
    from rich.console import Console

    from oms.lake import LakeError
    from oms.settings import get_settings
    from oms.validate import ContractError
    from pipelines.ingest import ingest

    s = get_settings()
    try:
        report = ingest(
            landing or s.landing, lake or s.lake, quarantine or s.quarantine,
            tables=list(table or []) or None, progress=progress, batch_rows=batch_rows,
        )
    except (LakeError, ContractError, KeyError) as e:
        typer.secho(f"error: {e.args[0] if isinstance(e, KeyError) else e}", err=True, fg="red")
        raise typer.Exit(code=1) from None
    console = Console()
    console.print(report_table(report))
    reasons = reasons_table(report)
    if reasons.row_count:
        console.print(reasons)


def report_table(report: IngestReport) -> Table:
    """A rich table of an ingest report: one row per table."""
    from rich.table import Table

    t = Table(title=f"ingest {report.landing} → {report.lake}")
    numbers = ("files", "rows in", "valid", "quarantined", "seconds")
    for col in ("table", *numbers, "ignored columns"):
        t.add_column(col, justify="right" if col in numbers else "left")
    for r in report.tables.values():
        files = f"{r.files} ({r.empty_files} empty)" if r.empty_files else str(r.files)
        t.add_row(r.table, files, f"{r.rows_in:,}", f"{r.rows_valid:,}",
                  f"{r.rows_quarantined:,}", f"{r.seconds:.1f}", ", ".join(r.ignored_columns))
    t.caption = (f"rows in {report.rows_in:,} = valid {report.rows_valid:,} + quarantined "
                 f"{report.rows_quarantined:,}")
    return t


def reasons_table(report: IngestReport) -> Table:
    """Quarantined rows per table and reason (a row breaking two rules counts under both)."""
    from rich.table import Table

    t = Table(title=f"quarantined rows by reason → {report.quarantine}")
    t.add_column("table")
    t.add_column("reason")
    t.add_column("rows", justify="right")
    for r in report.tables.values():
        for reason, n in r.reasons.items():
            t.add_row(r.table, reason, f"{n:,}")
    return t
