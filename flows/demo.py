"""The demo flow: the whole nightly job on embedded defaults, as one Prefect flow.

generate → ingest → features → train/register forecasters → write forecasts →
train/score churn → train the warehouse router. Each task is a thin call of one pipeline
function (tests call those functions directly, without Prefect); the flow only wires them
and passes paths and run ids explicitly.

Retries: the I/O tasks (generate, ingest, features, score-churn: they read and write files
that a transient filesystem or object-store error can fail) are retried twice with
exponential backoff (2 s, 4 s). Training tasks are not retried: a failed fit would fail
the same way again, and a retry would register a second version.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any

from prefect import flow, task
from prefect.tasks import exponential_backoff

import flows.prefect_env  # noqa: F401  (must precede prefect)
from oms.lake import table_uri
from oms.settings import get_settings

#: Retry policy of the I/O tasks (see the module docstring).
IO_RETRIES = dict(retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=2))


def _summary(obj: Any) -> Any:
    """A printable, JSON-friendly summary of a pipeline report."""
    if is_dataclass(obj):
        return {k: _summary(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {k: _summary(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_summary(v) for v in obj]
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return obj


@task(name="generate", **IO_RETRIES)
def generate_task(scale: str, seed: int, landing: str, tenant_id: str) -> Any:
    """Generate realistic order data into the landing zone."""
    from pipelines.generate import generate

    return generate(scale, seed=seed, out=landing, tenant_id=tenant_id, progress=False)


@task(name="ingest", **IO_RETRIES)
def ingest_task(landing: str, lake: str, quarantine: str) -> Any:
    """Validate the landing zone into the lake; quarantine what breaks the contract."""
    from pipelines.ingest import ingest

    return ingest(landing, lake, quarantine)


@task(name="features", **IO_RETRIES)
def features_task(lake: str, out: str, engine: str) -> Any:
    """Compute daily volume, SKU demand panel and customer features."""
    from pipelines.features import build_features

    return build_features(lake, out, engine=engine)


def _gate_summary(outcome: Any) -> dict[str, Any]:
    """What the registry did with a trained model (from its ``TrainOutcome``)."""
    return {"registered": outcome.uri, "alias": outcome.alias,
            "promoted": outcome.promoted,
            "gate": outcome.gate.reason if outcome.gate else ""}


@task(name="train-forecast")
def train_forecast_task(lake: str, outputs: str, models: tuple[str, ...], tenant: str
                        ) -> dict[str, Any]:
    """Backtest, register and gate the tenant's order-volume forecaster; write its forecasts."""
    from pipelines.train_forecast import train_from_lake

    res = train_from_lake(lake, "volume", models=models, n_windows=4, tenant=tenant,
                          output_uri=outputs, progress=False)
    table = res.report.metrics[["model", "horizon", "accuracy", "mase", "coverage_80",
                                "coverage_95"]]
    return _gate_summary(res) | {
        "chosen": res.report.chosen,
        "backtest": table.round(3).to_dict(orient="records"),
        "forecast": res.report.output_path,
        "sales_trend_30d": res.report.sales_trend_path,
    }


@task(name="train-churn")
def train_churn_task(lake: str, tenant: str) -> dict[str, Any]:
    """Train, register and gate the tenant's churn classifier (time-based validation)."""
    from pipelines.train_churn import train_churn

    res = train_churn(lake, tenant_id=tenant)
    return _gate_summary(res) | {
        "test_cutoff": str(res.report.test_cutoff.date()),
        "metrics": {k: round(v, 4) for k, v in res.report.metrics.items()},
    }


@task(name="score-churn", **IO_RETRIES)
def score_churn_task(lake: str, outputs: str, tenant: str) -> dict[str, Any]:
    """Score the tenant's customers with its churn champion (probability, segment, strategy)."""
    from pipelines.score_churn import score_churn

    scored = score_churn(lake, out=outputs, tenant_id=tenant)
    return {
        "scored": len(scored.scored),
        "excluded": len(scored.excluded),
        "strategies": scored.scored["strategy"].value_counts().to_dict()
        if "strategy" in scored.scored else {},
        "outputs": scored.uris,
    }


@task(name="router")
def router_task(timesteps: int, tenant: str) -> dict[str, Any]:
    """Train, evaluate, register and gate the tenant's warehouse router (DQN)."""
    from pipelines.train_router import train_router

    res = train_router("dqn", total_timesteps=timesteps, progress_bar=False, tenant=tenant)
    return _gate_summary(res) | {
        "evaluation": res.report.summary.round(3).to_dict(orient="records")}


from flows.steps import DEMO_STEPS  # noqa: E402


@flow(name="oms-ml-demo", log_prints=True)
def demo_flow(
    scale: str = "small",
    seed: int = 7,
    engine: str = "pandas",
    steps: tuple[str, ...] = DEMO_STEPS,
    forecast_models: tuple[str, ...] = ("prophet", "lstm"),
    router_timesteps: int = 30_000,
) -> dict[str, Any]:
    """Run the nightly job end to end on the embedded defaults.

    Args:
        scale: Generator scale (tiny, small, medium, large).
        seed: Generator seed (the same seed gives the same data).
        engine: Feature engine, ``pandas`` or ``spark``.
        steps: Which steps to run, in order.
        forecast_models: Candidate forecasters for the order-volume model.
        router_timesteps: DQN training steps for the router.

    Returns:
        A summary per step: what was produced and where.
    """
    s = get_settings()
    from pipelines.registry import configure_mlflow

    configure_mlflow()
    results: dict[str, Any] = {}
    if "generate" in steps:
        results["generate"] = generate_task(scale, seed, s.landing, s.tenant_id)
    if "ingest" in steps:
        results["ingest"] = ingest_task(s.landing, s.lake, s.quarantine)
    if "features" in steps:
        results["features"] = features_task(s.lake, table_uri(s.outputs, "features"), engine)
    if "forecast" in steps:
        results["forecast"] = train_forecast_task(s.lake, s.outputs, forecast_models,
                                                  s.tenant_id)
    if "churn" in steps:
        trained = train_churn_task(s.lake, s.tenant_id)
        results["churn"] = {**trained, **score_churn_task(s.lake, s.outputs, s.tenant_id)}
    if "router" in steps:
        results["router"] = router_task(router_timesteps, s.tenant_id)
    return {k: _summary(v) for k, v in results.items()}
