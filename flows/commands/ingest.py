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
    landing: str = typer.Option(
        None, help="Landing root or one parquet file (default: OMS_ML_DATA_DIR/landing)."),
    lake: str = typer.Option(None, help="Lake root (default: OMS_ML_DATA_DIR/lake)."),
    quarantine: str = typer.Option(
        None, help="Quarantine root (default: OMS_ML_DATA_DIR/quarantine)."),
    table: list[str] = typer.Option(None, "--table", "-t",
                                    help="Only this table (repeatable); default: all present."),
    batch_rows: int = typer.Option(250_000, min=1, help="Rows per batch (bounds memory)."),
    replace: bool = typer.Option(
        False, "--replace",
        help="Replace the landed tables' history with the landing instead of upserting into "
             "it (refused when a landed table is empty)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Validate landed parquet against the contract and publish it as a new lake version.

    Valid rows are added to the lake and upserted by primary key (history is kept unless
    --replace); rows that break the contract are quarantined with a reason. The whole run is
    one version, published atomically under the lake's lock.
    """
    from rich.console import Console
    from rich.markup import escape

    from oms.lake import LakeError
    from oms.settings import get_settings
    from oms.validate import ContractError
    from pipelines.ingest import ingest

    s = get_settings()
    try:
        report = ingest(
            landing or s.landing, lake or s.lake, quarantine or s.quarantine,
            tables=list(table or []) or None, progress=progress, batch_rows=batch_rows,
            replace=replace,
        )
    except (LakeError, ContractError, KeyError, OSError) as e:
        typer.secho(f"error: {e.args[0] if isinstance(e, KeyError) else e}", err=True, fg="red")
        raise typer.Exit(code=1) from None
    console = Console()
    console.print(report_table(report))
    reasons = reasons_table(report)
    if reasons.row_count:
        console.print(reasons)
    for note in report.notes:
        console.print(f"note: {escape(note)}")
    for note in report.skipped:
        console.print(f"[yellow]skipped:[/] {escape(note)}")


def report_table(report: IngestReport) -> Table:
    """A rich table of an ingest report: one row per table."""
    from rich.table import Table

    mode = "replaced" if report.replace else "upserted"
    t = Table(title=f"ingest {report.landing} → {report.lake} (version {report.version}, "
                    f"{mode})")
    reps = list(report.tables.values())
    stale = any(r.stale for r in reps)
    ignored = any(r.ignored_columns for r in reps)
    numbers = ("files", "in", "valid", "quarantined", "new", "updated",
               *(("stale",) if stale else ()), "lake rows", "s")
    for col in ("table", *numbers, *(("ignored columns",) if ignored else ())):
        t.add_column(col, justify="right" if col in numbers else "left", no_wrap=col == "table")
    for r in reps:
        files = f"{r.files} ({r.empty_files} empty)" if r.empty_files else str(r.files)
        t.add_row(r.table, files, f"{r.rows_in:,}", f"{r.rows_valid:,}",
                  f"{r.rows_quarantined:,}", f"{r.inserted:,}", f"{r.updated:,}",
                  *((f"{r.stale:,}",) if stale else ()), f"{r.lake_rows:,}",
                  f"{r.seconds:.1f}", *((", ".join(r.ignored_columns),) if ignored else ()))
    t.caption = (f"rows in {report.rows_in:,} = valid {report.rows_valid:,} + quarantined "
                 f"{report.rows_quarantined:,}; stale = older than the lake's row, not applied")
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
