"""The Typer apps of the ``oms-ml`` CLI; command modules register their commands on these."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="oms-ml",
    help="oms-ml: forecasting, churn and routing for an order management system.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
import_app = typer.Typer(
    help="Import real order exports onto the data contract.", no_args_is_help=True
)
train_app = typer.Typer(help="Train, backtest, register and gate models.", no_args_is_help=True)
score_app = typer.Typer(help="Batch-score with registered champions.", no_args_is_help=True)
contract_app = typer.Typer(help="Inspect the order data contract.", no_args_is_help=True)
route_app = typer.Typer(help="Warehouse routing and outage rerouting.", no_args_is_help=True)

app.add_typer(import_app, name="import")
app.add_typer(train_app, name="train")
app.add_typer(score_app, name="score")
app.add_typer(contract_app, name="contract")
app.add_typer(route_app, name="route")
