"""Train a warehouse router, log it to MLflow, register it and gate it.

``train_router`` trains DQN (or MaskablePPO) on sampled episodes, logs hyperparameters,
the learning curve (one metric per evaluation step, plus a CSV and a plot), the gate
evaluation against the baselines on fixed seeded episodes, and the policy as a pyfunc
registered as ``warehouse_router``; ``promote_if_better`` moves ``champion`` only if the
new version's mean episode reward beats the current champion's on the same episodes.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from typing import Any

import mlflow
import pandas as pd

from envs.warehouse_routing import RoutingConfig, WarehouseRoutingEnv
from models.routing.agent import DQNRouter, MaskablePPORouter
from models.routing.baselines import MyopicGreedy, NearestWithStock, evaluate, summarise
from models.routing.pyfunc import ARTIFACT, WarehouseRouterModel
from models.routing.rows import example_rows
from pipelines.registry import GateDecision, configure_mlflow, log_pyfunc, promote_if_better

REGISTERED_NAME = "warehouse_router"
EXPERIMENT = "warehouse_routing"
GATE_SEEDS = range(500_000, 500_100)  # fixed held-out episodes: every version is gated on them
GATE_METRIC = "mean_reward"


@dataclass
class TrainRouterResult:
    """What ``train_router`` produced."""

    router: Any
    summary: pd.DataFrame
    run_id: str
    version: str | None
    decision: GateDecision | None


def make_router(algo: str, **kwargs: Any) -> DQNRouter | MaskablePPORouter:
    """A router estimator by name (``dqn`` or ``maskable-ppo``)."""
    if algo == "dqn":
        return DQNRouter(**kwargs)
    if algo in ("maskable-ppo", "ppo"):
        return MaskablePPORouter(**kwargs)
    raise ValueError(f"unknown algo {algo!r}; use 'dqn' or 'maskable-ppo'")


def _log_curve(curve: pd.DataFrame, tmp: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for row in curve.itertuples():
        mlflow.log_metric("eval_mean_reward", float(row.mean_reward), step=int(row.timesteps))
    path = os.path.join(tmp, "learning_curve.csv")
    curve.to_csv(path, index=False)
    mlflow.log_artifact(path)
    if len(curve):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.errorbar(curve["timesteps"], curve["mean_reward"], yerr=curve["std_reward"])
        ax.set(xlabel="timesteps", ylabel="mean episode reward", title="learning curve")
        fig.tight_layout()
        mlflow.log_figure(fig, "learning_curve.png")
        plt.close(fig)


def gate_summary(router: Any, config: RoutingConfig, seeds: Any = GATE_SEEDS
                 ) -> pd.DataFrame:
    """Router (masked and raw) and the simple baselines on the gate episodes."""
    env = WarehouseRoutingEnv(config, network=router.network_)
    policies = [router.as_policy(masked=True), router.as_policy(masked=False),
                NearestWithStock(), MyopicGreedy()]
    return summarise(pd.concat([evaluate(env, p, seeds) for p in policies]))


def train_router(algo: str = "dqn", total_timesteps: int = 100_000,
                 config: RoutingConfig | None = None, gate_seeds: Any = GATE_SEEDS,
                 register: bool = True, tracking_uri: str | None = None,
                 **router_kwargs: Any) -> TrainRouterResult:
    """Train, evaluate, log, register and gate a router.

    Args:
        algo: ``dqn`` or ``maskable-ppo``.
        total_timesteps: Training steps.
        config: Environment configuration.
        gate_seeds: Seeds of the evaluation episodes used by the gate.
        register: Log the pyfunc, register it and run the champion gate.
        tracking_uri: MLflow URI (defaults to the settings').
        **router_kwargs: Passed to the router (hyperparameters, ``progress_bar``, ...).

    Returns:
        The fitted router, the gate summary table, the run id, version and gate decision.
    """
    config = config or RoutingConfig()
    configure_mlflow(tracking_uri)
    mlflow.set_experiment(EXPERIMENT)
    router = make_router(algo, total_timesteps=total_timesteps, env_config=config,
                         **router_kwargs)
    with mlflow.start_run(run_name=f"{algo}-router") as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params({f"algo.{k}": v for k, v in router.flat_params().items()})
        mlflow.log_params({f"env.{k}": v for k, v in asdict(config).items()
                           if k != "sampler"})
        mlflow.log_params({f"sampler.{k}": v for k, v in asdict(config.sampler).items()})
        router.fit(WarehouseRoutingEnv(config))
        mlflow.log_metric("train_seconds", router.train_seconds_)
        _log_curve(router.learning_curve_, tmp)
        summary = gate_summary(router, config, gate_seeds)
        mine = summary.iloc[0]
        mlflow.log_metrics({GATE_METRIC: float(mine["reward"]),
                            "on_time_rate": float(mine["on_time_rate"]),
                            "cost_per_order": float(mine["cost_per_order"]),
                            "invalid_rate_raw": float(summary.iloc[1]["invalid_rate"]),
                            "greedy_mean_reward": float(summary.iloc[3]["reward"]),
                            "nearest_mean_reward": float(summary.iloc[2]["reward"])})
        summary.to_csv(os.path.join(tmp, "gate_summary.csv"), index=False)
        mlflow.log_artifact(os.path.join(tmp, "gate_summary.csv"))
        version = decision = None
        if register:
            zip_path = os.path.join(tmp, "router.zip")
            router.save(zip_path)
            model = WarehouseRouterModel(router.algo_name, router.network_, config, router)
            version = log_pyfunc(model, REGISTERED_NAME, example_rows(router.network_),
                                 artifacts={ARTIFACT: zip_path})
            decision = promote_if_better(REGISTERED_NAME, version, GATE_METRIC,
                                         float(mine["reward"]), higher_is_better=True)
    return TrainRouterResult(router, summary, run.info.run_id, version, decision)


class ChampionPolicy:
    """Routes through ``models:/warehouse_router@champion`` (the served pyfunc), row by row."""

    name = "champion (pyfunc)"

    def __init__(self, model: Any) -> None:
        self.model = model

    def act(self, env: WarehouseRoutingEnv, obs: Any) -> int:
        """The champion's warehouse for the env's current order."""
        from models.routing.rows import current_row

        w = self.model.predict(current_row(env)).iloc[0]["warehouse_id"]
        ids = env.network.warehouse_ids
        return ids.index(w) if w in ids else env.n_warehouses


def evaluate_policies(seeds: Any, champion: bool = True, config: RoutingConfig | None = None,
                      tracking_uri: str | None = None) -> pd.DataFrame:
    """Baselines (and the registered champion, if any) on the same seeded episodes."""
    from models.routing.baselines import Clairvoyant, RandomValid
    from pipelines.registry import load_champion

    env = WarehouseRoutingEnv(config or RoutingConfig())
    policies: list[Any] = [RandomValid(0), NearestWithStock(), MyopicGreedy(), Clairvoyant()]
    if champion:
        configure_mlflow(tracking_uri)
        try:
            policies.append(ChampionPolicy(load_champion(REGISTERED_NAME)))
        except LookupError as e:
            import logging

            logging.getLogger(__name__).warning("no champion router to evaluate: %s", e)
    return summarise(pd.concat([evaluate(env, p, seeds) for p in policies]))
