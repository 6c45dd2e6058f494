"""CLI commands for routing: train the router, evaluate policies, reroute after an outage."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from flows.apps import guard, out_option, positive_option, route_app, tenant_option, train_app

if TYPE_CHECKING:
    import pandas as pd


class Algo(StrEnum):
    """Router training algorithms."""

    dqn = "dqn"
    maskable_ppo = "maskable-ppo"


def _scenario(value: str | None) -> str | None:
    if value is None:
        return None
    from envs.scenarios import get_scenario

    try:
        return get_scenario(value).name
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def scenario_option() -> Any:
    """``--scenario``: a named scenario of ``envs.scenarios.SCENARIOS`` (default ``easy``)."""
    return typer.Option(None, help="Named scenario (easy, scarce, peak, outage); default easy.",
                        callback=_scenario)


def _read(path: Path) -> pd.DataFrame:
    import pandas as pd

    if not path.exists():
        raise typer.BadParameter(f"{path} does not exist")
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def _print_frame(df: pd.DataFrame, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in df.columns:
        table.add_column(str(c))
    for row in df.itertuples(index=False):
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    Console().print(table)


@train_app.command("router")
def train_router_command(
    algo: Algo = typer.Option(Algo.dqn, help="Training algorithm."),
    timesteps: int | None = positive_option(
        None, "Training steps (default: 100,000 on easy, the scenario's setting on a hard "
              "scenario, pipelines.train_router.SCENARIO_STEPS)."),
    seed: int = typer.Option(0, help="Seed of the training episodes and the algorithm."),
    register: bool = typer.Option(
        True, "--register/--no-register",
        help="Register and gate the router (--no-register: train and evaluate only). Default: "
             "register. A hard scenario's router is registered as "
             "warehouse_router_<scenario>__<tenant> with the policy its gate ships (the "
             "learned router or dual-price); the HTTP service serves only the easy family."),
    scenario: str | None = scenario_option(),
    tenant: str = tenant_option(),
) -> None:
    """Train the warehouse router, log it to MLflow, register and gate it for the tenant."""
    from rich.console import Console

    hard = scenario not in (None, "easy")
    with guard():
        from oms.settings import get_settings
        from pipelines.train_router import (
            SCENARIO_STEPS,
            scenario_router_kwargs,
            train_router,
        )

        kwargs = scenario_router_kwargs(algo.value, scenario or "easy")
        timesteps = timesteps or SCENARIO_STEPS.get(scenario or "easy", 100_000)
        if hard:  # points on the learning curve besides the untrained policy
            kwargs.setdefault("eval_freq", max(timesteps // 5, 1))
        res = train_router(algo.value, total_timesteps=timesteps, register=register,
                           random_state=seed, torch_threads=min(2, get_settings().torch_threads),
                           tenant=tenant, scenario=scenario, **kwargs)
    _print_frame(res.report.summary, f"{algo.value} on the gate episodes (run {res.run_id})")
    Console().print(res.summary())


@route_app.command("evaluate")
def evaluate_command(
    episodes: int = positive_option(20, "Held-out seeded episodes."),
    first_seed: int = typer.Option(1_000_000, help="Seed of the first episode."),
    champion: bool = typer.Option(True, "--champion/--no-champion",
                                  help="Also evaluate the tenant's champion router."),
    scenario: str | None = scenario_option(),
    tenant: str = tenant_option(),
) -> None:
    """Compare baselines (and the tenant's champion router) on the same seeded episodes."""
    with guard():
        from envs.warehouse_routing import scenario_config
        from pipelines.train_router import evaluate_policies

        summary, note = evaluate_policies(range(first_seed, first_seed + episodes),
                                          champion=champion, tenant=tenant,
                                          config=scenario_config(scenario or "easy"))
    _print_frame(summary, f"routing policies on {episodes} {scenario or 'easy'} episodes")
    if note:
        typer.secho(f"note: {note}", fg="yellow")


@route_app.command("reroute")
def reroute_command(
    orders: Path = typer.Option(..., help="Open orders (parquet/csv): order_id, warehouse_id, "
                                          "sku, lat, lon[, promised_hours, quantity]."),
    warehouses: Path = typer.Option(..., help="warehouse_id, lat, lon, capacity, cost_per_order"),
    stock: Path = typer.Option(..., help="warehouse_id, sku, on_hand"),
    down: list[str] = typer.Option(..., help="Warehouse(s) that went down (repeatable)."),
    out: str = out_option(),
    tenant: str = tenant_option(),
) -> None:
    """Reassign every open order after an outage in one min-cost-flow batch."""
    import json

    from rich.console import Console

    from oms.settings import get_settings

    with guard():
        from oms.outputs import output_path
        from pipelines.reroute import reroute, write_reroute

        try:
            res = reroute(_read(orders), _read(warehouses), _read(stock), list(down))
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
        target = write_reroute(res, output_path("reroute", tenant or get_settings().tenant_id,
                                                root=out))
    Console().print_json(json.dumps(res.report | {"output": target}))
