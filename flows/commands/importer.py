"""CLI commands for importers: ``oms-ml import online-retail|transactions PATH``."""

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


@import_app.command("transactions")
def transactions_command(
    path: str = typer.Argument(..., help="Purchase log: CSV file or parquet file/folder, one "
                               "row per purchase (line)."),
    out: str = typer.Option(None, help="Landing root to write [settings: landing]; give each "
                            "source its own, since its tables there are replaced."),
    tenant: str = tenant_option("Tenant id written on every row [settings: tenant_id], the "
                                "tenant that `train churn` and `score churn` use by default."),
    customer: str = typer.Option(None, help="Customer id column [default: customer_id, "
                                 "customer, user_id, ...]."),
    timestamp: str = typer.Option(None, help="Purchase time/date column [default: timestamp, "
                                  "order_date, date, ...]."),
    amount: str = typer.Option(None, help="Row value column (quantity × price; negative = "
                               "refund) [default: amount, total, revenue, ...]."),
    order_id: str = typer.Option(None, help="Order id column (without one, a customer's rows "
                                 "on one day form one order)."),
    sku: str = typer.Option(None, help="SKU / product id column (optional)."),
    quantity: str = typer.Option(None, help="Quantity column (optional)."),
    channel: str = typer.Option(None, help="Sales channel column (optional)."),
    country: str = typer.Option(None, help="Country column (optional)."),
    timezone: str = typer.Option("UTC", help="Time zone of timestamps without an offset."),
    currency: str = typer.Option("XXX", help="ISO currency of the amounts (XXX = not stated)."),
    dayfirst: bool = typer.Option(False, help="Read 03/04/2023 as 3 April."),
) -> None:
    """Map a plain purchase log onto the data contract and write the landing zone."""
    from rich.console import Console

    from oms.lake import LakeError
    from oms.settings import get_settings
    from oms.validate import ContractError
    from pipelines.importers.transactions import ColumnMapping, import_transactions

    out = out or get_settings().landing
    mapping = ColumnMapping(customer, timestamp, amount, order_id, sku, quantity, channel,
                            country)
    console = Console()
    try:
        with console.status(f"importing {path} …"):
            report = import_transactions(path, out, mapping, tenant or get_settings().tenant_id,
                                         timezone, currency, dayfirst)
    except (LakeError, ContractError) as e:
        typer.secho(f"error: {e}", err=True, fg="red")
        raise typer.Exit(code=1) from None
    console.print(import_table(report))
    console.print("columns: " + ", ".join(f"{k} ← {v}" for k, v in report.columns.items()))
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
        + (f" · non-product lines: {sum(report.non_product_lines.values()):,}"
           if report.non_product_lines else "")
        + f" · rejects: {report.rejects_uri} · {report.seconds:.1f}s"
    )
    return t
