"""The demo: generate a tenant's data, then the weekly retrain and the daily batch once.

Everything runs on the embedded defaults (local parquet under ``data/``, MLflow on SQLite,
Prefect's ephemeral API): ``generate`` writes the tenant's landing folder
``<landing>/<tenant>/`` (orders and the risk tables), :func:`flows.retrain.weekly_retrain_flow`
ingests it, refreshes the features and trains, registers and gates every family, and
:func:`flows.daily.daily_batch_flow` writes every daily output with the new champions. It is
the README's main command (``oms-ml demo``, ``make demo``).
"""

from __future__ import annotations

from prefect import flow

import flows.prefect_env  # noqa: F401  (must precede prefect)
from flows import tasks
from flows.daily import daily_batch_flow
from flows.retrain import RISK_FAMILIES, weekly_retrain_flow
from flows.steps import DAILY_OUTPUTS, RETRAIN_FAMILIES
from flows.summary import FlowSummary
from oms.settings import get_settings
from oms.tenancy import validate_tenant


@flow(name="oms-ml-demo", log_prints=False)
def demo_flow(
    scale: str = "small",
    seed: int = 7,
    tenant: str | None = None,
    engine: str = "pandas",
    families: tuple[str, ...] = RETRAIN_FAMILIES,
    outputs: tuple[str, ...] = DAILY_OUTPUTS,
    forecast_models: tuple[str, ...] = ("ensemble", "prophet", "lstm"),
    sku_models: tuple[str, ...] = (),
    n_windows: int = 4,
    router_timesteps: int = 30_000,
    risk_families: tuple[str, ...] = RISK_FAMILIES,
    run_date: str | None = None,
) -> FlowSummary:
    """Generate data, retrain every family, then run the daily batch once.

    Args:
        scale: Generator scale (tiny, small, medium, large).
        seed: Generator seed (the same seed gives the same data).
        tenant: Tenant id (default: the settings' tenant).
        engine: Feature engine, ``pandas`` or ``spark``.
        families: Families the weekly retrain trains.
        outputs: Outputs the daily batch writes.
        forecast_models: Candidate order-volume forecasters.
        sku_models: Candidate SKU-demand forecasters beside the seasonal-naive baseline
            (none by default: the demo stays within minutes on 2 cores; the weekly
            retrain's default adds LightGBM).
        n_windows: Backtest windows.
        router_timesteps: DQN training steps for the router.
        risk_families: Risk families to train.
        run_date: Daily batch date (default: today in the business time zone).

    Returns:
        One summary over the three stages.
    """
    s = get_settings()
    tenant = validate_tenant(tenant or s.tenant_id)
    summary = FlowSummary("demo")
    summary.steps.append(tasks.run(tasks.generate_task, "generate", tenant, tenant, s.landing,
                                   scale, seed))
    weekly = weekly_retrain_flow(tenant, families=families, forecast_models=forecast_models,
                                 sku_models=sku_models, n_windows=n_windows,
                                 router_timesteps=router_timesteps,
                                 risk_families=risk_families, engine=engine)
    summary.steps += weekly.steps
    daily = daily_batch_flow(tenant, run_date, outputs=outputs, engine=engine)
    summary.steps += daily.steps
    summary.alerts += daily.alerts
    return summary
