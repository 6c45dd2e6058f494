"""CLI commands for importers: ``oms-ml import online-retail PATH``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from flows.apps import guard, import_app, tenant_option

if TYPE_CHECKING:
    from rich.table import Table

    from pipelines.importers.online_retail import ImportReport


@import_app.command("online-retail")
def online_retail_command(
    path: str = typer.Argument(..., help="The UCI Online Retail export (parquet file or folder)."),
    out: str = typer.Option(None, help="Landing root to write [settings: landing]; give each "
                            "source its own, since its six tables there are replaced."),
    tenant: str = tenant_option("Tenant id written on every row [default: online_retail]."),
) -> None:
    """Map the UCI Online Retail export onto the data contract and write the landing zone."""
    from rich.console import Console

    from oms.settings import get_settings

    out = out or get_settings().landing
    console = Console()
    with guard(), console.status(f"importing {path} …"):
        from pipelines.importers.online_retail import import_online_retail

        report = import_online_retail(path, out, tenant_id=tenant or "online_retail")
    console.print(import_table(report))
    console.print(f"next: oms-ml ingest --landing {out}")


def import_table(report: ImportReport) -> Table:
    """A rich table of an import report: where every source row went."""
    from rich.table import Table

    t = Table(title=f"import {report.source} → {report.out} (tenant {report.tenant_id})")
    t.add_column("source rows")
    t.add_column("rows", justify="right")
    for kind, n in report.mapped.items():
        t.add_row(f"mapped: {kind}", f"{n:,}")
    for reason, n in report.set_aside.items():
        t.add_row(f"set aside: {reason}", f"{n:,}")
    for reason, n in report.to_quarantine.items():
        t.add_row(f"to quarantine: {reason}", f"{n:,}")
    t.add_row("[b]rows in[/b]", f"[b]{report.rows_in:,}[/b]")
    t.caption = (
        f"rows in {report.rows_in:,} = mapped {report.rows_mapped:,} + set aside "
        f"{report.rows_set_aside:,} · tables: "
        + ", ".join(f"{k} {v:,}" for k, v in report.tables.items())
        + f" · non-product lines: {sum(report.non_product_lines.values()):,}"
        + f" · rejects: {report.rejects_uri} · {report.seconds:.1f}s"
    )
    return t
