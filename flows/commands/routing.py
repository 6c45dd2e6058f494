"""CLI commands for routing: train the router, evaluate policies, reroute after an outage."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from flows.apps import route_app, train_app

console = Console()


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise typer.BadParameter(f"{path} does not exist")
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def _print_frame(df: pd.DataFrame, title: str) -> None:
    table = Table(title=title)
    for c in df.columns:
        table.add_column(str(c))
    for row in df.itertuples(index=False):
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)


@train_app.command("router")
def train_router_cmd(
    algo: str = typer.Option("dqn", help="dqn or maskable-ppo"),
    timesteps: int = typer.Option(100_000, help="Training steps."),
    seed: int = typer.Option(0, help="Seed of the training episodes and the algorithm."),
    no_register: bool = typer.Option(False, help="Train and evaluate only."),
) -> None:
    """Train the warehouse router, log it to MLflow and gate it as warehouse_router."""
    from oms.settings import get_settings
    from pipelines.train_router import train_router

    res = train_router(algo, total_timesteps=timesteps, register=not no_register, random_state=seed,
                       torch_threads=min(2, get_settings().torch_threads))
    _print_frame(res.summary, f"{algo} on the gate episodes (run {res.run_id})")
    if res.decision is not None:
        console.print(f"version {res.version}: {res.decision.reason} -> "
                      f"{'champion' if res.decision.promoted else 'challenger'}")


@route_app.command("evaluate")
def evaluate_cmd(
    episodes: int = typer.Option(20, help="Held-out seeded episodes."),
    first_seed: int = typer.Option(1_000_000, help="Seed of the first episode."),
    champion: bool = typer.Option(True, help="Also evaluate models:/warehouse_router@champion."),
) -> None:
    """Compare baselines (and the champion router) on the same seeded episodes."""
    from pipelines.train_router import evaluate_policies

    summary = evaluate_policies(range(first_seed, first_seed + episodes), champion=champion)
    _print_frame(summary, f"routing policies on {episodes} episodes")


@route_app.command("reroute")
def reroute_cmd(
    orders: Path = typer.Option(..., help="Open orders (parquet/csv): order_id, warehouse_id, "
                                          "sku, lat, lon[, promised_hours, quantity]."),
    warehouses: Path = typer.Option(..., help="warehouse_id, lat, lon, capacity, cost_per_order"),
    stock: Path = typer.Option(..., help="warehouse_id, sku, on_hand"),
    down: list[str] = typer.Option(..., help="Warehouse(s) that went down (repeatable)."),
    out: Path = typer.Option(None, help="Output parquet (default: <outputs>/reroute.parquet)."),
) -> None:
    """Reassign every open order after an outage in one min-cost-flow batch."""
    from oms.settings import get_settings
    from pipelines.reroute import reroute, write_reroute

    try:
        res = reroute(_read(orders), _read(warehouses), _read(stock), list(down))
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    target = str(out or Path(get_settings().outputs) / "reroute.parquet")
    write_reroute(res, target)
    console.print_json(json.dumps(res.report | {"output": target}))
