"""The weekly retrain of one tenant: every model family trained, backtested, registered, gated.

``weekly_retrain_flow(tenant)`` first ingests the tenant's new landing files and refreshes
its features (the same tasks as the daily batch, so it trains on everything that has
arrived), checks the MLflow store once, then trains each family — order volume, SKU demand,
churn, warehouse router and the risk families — through its ``pipelines/train_*`` function.
Each returns one ``TrainOutcome``; the ``@champion`` alias moves only through the gate
(``pipelines.registry.promote_if_better``): a new version that is not better becomes
``@challenger`` and the champion stays. One family failing does not stop the others.
"""

from __future__ import annotations

from prefect import flow

import flows.prefect_env  # noqa: F401  (must precede prefect)
from flows import tasks
from flows.steps import RETRAIN_FAMILIES
from flows.summary import FAILED, FlowSummary, StepResult, announce_done
from oms.settings import get_settings
from oms.tenancy import validate_tenant

RISK_FAMILIES = ("anomaly", "refunds", "eta", "returns", "triage")


@flow(name="weekly-retrain", log_prints=False)
def weekly_retrain_flow(
    tenant: str,
    families: tuple[str, ...] = RETRAIN_FAMILIES,
    forecast_models: tuple[str, ...] = ("ensemble", "prophet", "lstm"),
    sku_models: tuple[str, ...] = ("gbm",),
    n_windows: int = 4,
    router_timesteps: int = 30_000,
    risk_families: tuple[str, ...] = RISK_FAMILIES,
    engine: str = "pandas",
    candidates: dict[str, str] | None = None,
) -> FlowSummary:
    """Retrain every requested family of one tenant (see the module docstring).

    Args:
        tenant: Tenant id (validated).
        families: Which families: volume, sku, churn, router, risk.
        forecast_models: Candidate order-volume forecasters (seasonal naive always runs as
            the baseline).
        sku_models: Candidate SKU-demand forecasters (hundreds of series: a global model).
        n_windows: Backtest windows of the forecasters.
        router_timesteps: DQN training steps of the router.
        risk_families: Which risk families (anomaly, refunds, eta, returns, triage).
        engine: Feature engine for the refresh, ``pandas`` or ``spark``.
        candidates: Per forecast target, a candidate to register instead of the best (the
            gate still decides whether it becomes champion), e.g. ``{"volume": "prophet"}``.

    Returns:
        The run's summary (``exit_code`` 1 if a family could not be trained).
    """
    tenant = validate_tenant(tenant)
    unknown = [f for f in families if f not in RETRAIN_FAMILIES]
    if unknown:
        raise ValueError(f"unknown famil(ies) {unknown}; choose from {RETRAIN_FAMILIES}")
    from flows.summary import quiet_unless_verbose

    quiet_unless_verbose()
    s = get_settings()
    summary = FlowSummary("weekly retrain")
    summary.steps.append(tasks.run(tasks.ingest_task, "ingest", tenant, tenant, s.landing,
                                   s.lake, s.quarantine))
    summary.steps.append(tasks.run(tasks.features_task, "features", tenant, tenant, s.lake,
                                   s.outputs, engine))
    store = tasks.tracking_task(read_only=False, return_state=True)
    if not store.is_completed():
        try:
            store.result()
            err = store.message
        except BaseException as e:  # noqa: BLE001 - shown in the summary
            err = f"{type(e).__name__}: {e}"
        for fam in families:
            res = StepResult(f"train {fam}", tenant, FAILED, f"MLflow store unusable: {err}"[:300])
            summary.steps.append(res)
            announce_done(res)
        return summary
    candidates = candidates or {}
    for fam in families:
        if fam in ("volume", "sku"):
            res = tasks.run(tasks.train_forecast_task, f"train {fam}", tenant, tenant, fam,
                            s.lake, s.outputs,
                            tuple(forecast_models if fam == "volume" else sku_models), n_windows,
                            candidates.get(fam))
        elif fam == "churn":
            res = tasks.run(tasks.train_churn_task, "train churn", tenant, tenant, s.lake)
        elif fam == "router":
            res = tasks.run(tasks.train_router_task, "train router", tenant, tenant,
                            router_timesteps)
        else:
            res = tasks.run(tasks.train_risk_task, "train risk", tenant, tenant, s.landing,
                            tuple(risk_families))
        summary.steps.append(res)
    return summary
