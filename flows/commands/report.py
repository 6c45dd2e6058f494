"""CLI command ``oms-ml report inventory``: the inventory recommendation report of a tenant."""

from __future__ import annotations

import typer

from flows.apps import app

report_app = typer.Typer(help="Write business reports from the lake and the champions.",
                         no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("inventory")
def inventory_command(
    tenant: str = typer.Option(None, help="Tenant (default: settings' tenant_id)."),
    out: str = typer.Option(None, help="Output folder (default: settings outputs)."),
    lake: str = typer.Option(None, help="Lake root (default: settings)."),
    top_n: int = typer.Option(100, help="SKUs covered: the N with most revenue."),
    service_level: float = typer.Option(0.95, help="Target fill rate, in (0, 1)."),
    ordering_cost: float = typer.Option(10.0, help="Fixed cost per purchase order line."),
    holding_rate: float = typer.Option(0.25, help="Yearly holding cost / unit cost."),
    mlflow: bool = typer.Option(None, "--mlflow/--no-mlflow",
                                help="Log to MLflow (default: when a tracking store is set)."),
) -> None:
    """Reorder points, order quantities, ABC/XYZ and stock-out risk per SKU × warehouse."""
    from rich.console import Console

    from models.inventory import InventoryInputError, InventoryPolicy
    from oms.lake import LakeError
    from oms.tenancy import InvalidTenantError
    from pipelines.inventory_report import build_inventory_report

    c = Console()
    try:
        policy = InventoryPolicy(service_level=service_level, ordering_cost=ordering_cost,
                                 holding_rate=holding_rate)
        with c.status("forecasting demand and computing the policy…"):
            rep = build_inventory_report(lake, tenant, out, top_n, policy, mlflow)
    except (InventoryInputError, InvalidTenantError, LakeError, ValueError) as e:
        typer.secho(f"error: {e}", err=True, fg="red")
        raise typer.Exit(code=1) from None
    s = rep.summary
    c.print(f"{s['series']:,} SKU × warehouse series, {s['reorder_now']:,} to reorder now "
            f"(order value {s['order_value']:,.0f}); value at risk {s['value_at_risk']:,.0f}; "
            f"excess stock value {s['excess_value']:,.0f}; {s['exceptions']:,} exceptions")
    c.print(f"forecast: {s['forecast_source']}")
    for kind, path in rep.paths.items():
        c.print(f"{kind}: {path}")
    if rep.run_id:
        c.print(f"logged to MLflow run {rep.run_id}")
