"""CLI of the scheduled flows: ``oms-ml flows daily|retrain|serve`` and ``oms-ml demo``.

Every flow command takes ``--tenant T`` (repeatable) or ``--all-tenants`` (the tenants with a
landing folder ``<landing>/<tenant>/`` or rows in the lake); each tenant runs as its own flow
run, and one summary table covers them all. A normal run shows a spinner per step and that
table; ``-v`` also shows Prefect's and the libraries' log lines. Exit code 1 only when
something asked for could not be produced (a skipped step — no new data, no champion yet —
is not a failure).
"""

from __future__ import annotations

import os

import typer

from flows.apps import app

flows_app = typer.Typer(help="Scheduled flows: daily batch, weekly retrain, deployments.",
                        no_args_is_help=True, rich_markup_mode=None)
app.add_typer(flows_app, name="flows")


TENANTS = typer.Option(None, "--tenant", help="Tenant id (repeat for several) "
                       "[settings: tenant_id].")
ALL_TENANTS = typer.Option(False, "--all-tenants", help="Every tenant found in the landing "
                           "(<landing>/<tenant>/) or the lake.")
VERBOSE = typer.Option(False, "-v", "--verbose", help="Show every log line and warning.")


def resolve_tenants(tenants: list[str] | None, all_tenants: bool) -> list[str]:
    """Validated tenant ids from ``--tenant`` / ``--all-tenants`` (usage error if malicious)."""
    from oms.settings import get_settings
    from oms.tenancy import InvalidTenantError, validate_tenant

    if tenants and all_tenants:
        raise typer.BadParameter("give --tenant or --all-tenants, not both")
    s = get_settings()
    if all_tenants:
        from pipelines.landing_state import discover_tenants

        found = discover_tenants(s.landing, s.lake)
        if not found:
            raise typer.BadParameter(f"no tenant found under {s.landing} or in {s.lake}")
        return found
    try:
        return [validate_tenant(t) for t in (tenants or [s.tenant_id])]
    except InvalidTenantError as e:
        raise typer.BadParameter(str(e)) from None


def _setup(verbose: bool) -> None:
    """Logging levels before Prefect is imported (it reads them once)."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ["OMS_ML_VERBOSE"] = "1" if verbose else "0"
    if not verbose:
        os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
        os.environ.setdefault("PYTHONWARNINGS", "ignore")
        import warnings

        warnings.simplefilter("ignore")


def _run_all(title: str, tenants: list[str], run_one, verbose: bool) -> None:
    """Run ``run_one(tenant)`` for each tenant with live steps; print one table; exit code."""
    from rich.console import Console

    from flows.summary import FlowSummary, StepReporter, quiet, render

    console = Console()
    total = FlowSummary(title)
    with StepReporter(console):
        quiet(not verbose)
        for tenant in tenants:
            one = run_one(tenant)
            total.steps += one.steps
            total.alerts += one.alerts
    render(total, console)
    raise typer.Exit(code=total.exit_code)


@flows_app.command("daily")
def daily_command(
    tenant: list[str] = TENANTS,
    all_tenants: bool = ALL_TENANTS,
    run_date: str = typer.Option(None, "--date", help="Run date YYYY-MM-DD (default: today "
                                 "in OMS_ML_TIMEZONE)."),
    outputs: str = typer.Option("volume,sku,churn,inventory,risk",
                                help="Outputs to write (comma-separated)."),
    engine: str = typer.Option("pandas", help="Feature engine: pandas or spark."),
    force: bool = typer.Option(False, help="Recompute every step even if nothing changed."),
    verbose: bool = VERBOSE,
) -> None:
    """Daily batch: ingest new partitions, refresh features, write the champions' outputs."""
    tenants = resolve_tenants(tenant, all_tenants)
    wanted = _split(outputs, "outputs", ("volume", "sku", "churn", "inventory", "risk"))
    _check_date(run_date)
    _setup(verbose)
    from flows.daily import daily_batch_flow

    _run_all("daily batch", tenants, lambda t: daily_batch_flow(
        t, run_date, outputs=wanted, engine=engine, force=force), verbose)


@flows_app.command("retrain")
def retrain_command(
    tenant: list[str] = TENANTS,
    all_tenants: bool = ALL_TENANTS,
    families: str = typer.Option("volume,sku,churn,router,risk",
                                 help="Families to retrain (comma-separated)."),
    forecast_models: str = typer.Option("ensemble,prophet,lstm", help="Order-volume candidates."),
    router_timesteps: int = typer.Option(30_000, help="DQN training steps of the router."),
    n_windows: int = typer.Option(4, help="Backtest windows of the forecasters."),
    verbose: bool = VERBOSE,
) -> None:
    """Weekly retrain: train, backtest, register every family; champions move only via the gate."""
    tenants = resolve_tenants(tenant, all_tenants)
    wanted = _split(families, "families", ("volume", "sku", "churn", "router", "risk"))
    models = tuple(m.strip() for m in forecast_models.split(",") if m.strip())
    _setup(verbose)
    from flows.retrain import weekly_retrain_flow

    _run_all("weekly retrain", tenants, lambda t: weekly_retrain_flow(
        t, families=wanted, forecast_models=models, n_windows=n_windows,
        router_timesteps=router_timesteps), verbose)


@flows_app.command("serve")
def serve_command(
    tenant: list[str] = TENANTS,
    all_tenants: bool = ALL_TENANTS,
    daily_cron: str = typer.Option("0 2 * * *", help="Cron of the daily batch."),
    weekly_cron: str = typer.Option("0 3 * * 0", help="Cron of the weekly retrain (Sunday)."),
    timezone: str = typer.Option(None, help="Time zone of the crons [settings: timezone]."),
) -> None:
    """Register the daily and weekly deployments with their schedules and serve them."""
    tenants = resolve_tenants(tenant, all_tenants)
    _setup(True)
    from oms.settings import get_settings

    try:
        from flows.deploy import serve_deployments
    except ImportError as e:
        raise typer.BadParameter(f"deployments are not available in this build ({e})") from None
    serve_deployments(tenants, daily_cron, weekly_cron, timezone or get_settings().timezone)


@flows_app.command("schedules")
def schedules_command() -> None:
    """List the oms-ml deployments and schedules registered on PREFECT_API_URL."""
    _setup(False)
    from rich.console import Console

    from flows.deploy import PrefectApiError, list_schedules, schedules_table

    try:
        schedules = list_schedules()
    except PrefectApiError as e:
        raise typer.BadParameter(str(e)) from None
    Console().print(schedules_table(schedules))


@app.command("demo")
def demo_command(
    scale: str = typer.Option("small", help="Generator scale: tiny, small, medium, large."),
    seed: int = typer.Option(7, help="Generator seed (the same default as `generate`)."),
    engine: str = typer.Option("pandas", help="Feature engine: pandas or spark."),
    tenant: str = typer.Option(None, "--tenant", help="Tenant id [settings: tenant_id]."),
    verbose: bool = VERBOSE,
) -> None:
    """Generate data, run the weekly retrain and the daily batch once (embedded defaults)."""
    tenants = resolve_tenants([tenant] if tenant else None, False)
    if scale not in ("tiny", "small", "medium", "large"):
        raise typer.BadParameter(f"scale must be tiny, small, medium or large, got {scale!r}")
    _setup(verbose)
    from rich.console import Console

    from oms.settings import get_settings

    s = get_settings()
    Console().print(f"[bold]oms-ml demo[/] scale={scale} seed={seed} engine={engine} "
                    f"tenant={tenants[0]}\ndata dir: {s.data_dir}  ·  MLflow: {s.tracking_uri}")
    from flows.demo import demo_flow

    _run_all("demo", tenants, lambda t: demo_flow(scale=scale, seed=seed, tenant=t,
                                                   engine=engine), verbose)


def _split(value: str, what: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    items = tuple(x.strip() for x in value.split(",") if x.strip())
    bad = [x for x in items if x not in allowed]
    if bad or not items:
        raise typer.BadParameter(f"unknown {what} {bad}; choose from {', '.join(allowed)}")
    return items


def _check_date(value: str | None) -> None:
    if value is None:
        return
    from datetime import date

    try:
        date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"--date must be YYYY-MM-DD, got {value!r}") from None
