"""Train a warehouse router, log it to MLflow, register it and gate it.

``train_router`` trains DQN (or MaskablePPO) on sampled episodes, logs hyperparameters,
the learning curve (one metric per evaluation step, plus a CSV and a plot), the gate
evaluation against the baselines on fixed seeded episodes, and the policy as a pyfunc
registered as ``warehouse_router``; ``promote_if_better`` moves ``champion`` only if the
new version's mean episode reward beats the current champion's on the same episodes.

``scenario`` picks a named scenario (``envs.scenarios.SCENARIOS``). Routers of the hard
scenarios read the extended observation; they are gated against greedy and dual-price and
registered as ``warehouse_router_<scenario>__<tenant>`` with the policy the gate ships (the
learned router, or the dual-price heuristic when the router did not beat it). Their pyfunc
takes the rows of ``models.routing.rows_extended`` (SKU, day, backlog, every SKU's stock);
the HTTP service serves only the ``easy`` family (``serving.registry`` refuses the others).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from typing import Any

import mlflow
import pandas as pd

from envs.warehouse_routing import RoutingConfig, WarehouseRoutingEnv, scenario_config
from models.routing.agent import DQNRouter, MaskablePPORouter
from models.routing.baselines import MyopicGreedy, NearestWithStock, evaluate, summarise
from models.routing.pyfunc import ARTIFACT, WarehouseRouterModel
from models.routing.rows import example_rows
from oms.settings import get_settings
from oms.tenancy import registered_name, validate_tenant
from pipelines.registry import (
    TrainOutcome,
    configure_mlflow,
    log_pyfunc,
    outcome,
    promote_if_better,
    use_experiment,
)

FAMILY = "warehouse_router"
EXPERIMENT = "warehouse_routing"
GATE_SEEDS = range(500_000, 500_100)  # fixed held-out episodes: every version is gated on them
GATE_METRIC = "mean_reward"
# DQN settings of the hard scenarios (chosen on scarce with 30 validation episodes, seeds
# 2_000_000…, never the bench's held-out seeds): the prior is the dual-price score with a
# residual that starts at zero, so the untrained router is the dual-price heuristic and
# keep_best (which also scores the untrained policy) only moves away from it when the
# validation episodes say so; a state-value head (dueling) carries what is common to all
# actions. Tried and dropped: the random-init residual (-1.88 ± 0.35 vs dual-price), without
# the state-value head (+0.13 ± 0.16, a tie; with it +0.55 ± 0.16), and bid-price potential
# shaping at gamma 0.99 (the curve fell from 51 to 17-26: the residual must carry the large
# potential and its errors swamp the per-warehouse differences).
# Checkpoints are chosen by the *masked* router's reward on fixed validation episodes
# (models.routing.selection, seeds 3_000_000…; SB3's EvalCallback scored the unmasked policy,
# and its best scarce checkpoint tied dual-price on the gate); on scarce, scored on 50 tuning
# episodes (seeds 2_000_000…) against dual-price: lr 1e-4, 6,000 steps +0.64 ± 0.13; lr 5e-5,
# 12,000 steps +0.69 ± 0.12. Both curves peak by 1,800-2,400 steps and fall after 3,600, so
# the hard scenarios train 4,800 steps, evaluate every 600 and keep the better of two seeds
# (bench/results/routing_parts/tune.jsonl; bench/routing_tune.py).
HARD_DQN: dict[str, Any] = {"bid_price_prior": True, "zero_residual": True,
                            "state_value": True, "n_eval_episodes": 30,
                            "masked_selection": True, "eval_freq": 600, "restarts": 2,
                            "algo_kwargs": {"learning_rate": 1e-4}}
SCENARIO_DQN: dict[str, dict[str, Any]] = {
    "easy": {},
    "scarce": {"reward_offset": 0.25, **HARD_DQN},
    "peak": {"reward_offset": 0.15, **HARD_DQN},
    "outage": {"reward_offset": 0.15, **HARD_DQN},
}


# training steps of the CLI (``oms-ml train router``) and the bench per scenario
SCENARIO_STEPS: dict[str, int] = {"easy": 100_000, "scarce": 4800, "peak": 4800, "outage": 4800}


def scenario_router_kwargs(algo: str, scenario: str) -> dict[str, Any]:
    """The router hyperparameters used for ``scenario`` (empty: the estimator's defaults)."""
    if algo != "dqn":
        return {}
    return dict(SCENARIO_DQN.get(scenario, {}))


@dataclass
class RouterReport:
    """The routing part of a training outcome (``TrainOutcome.report``)."""

    router: Any
    summary: pd.DataFrame


def make_router(algo: str, **kwargs: Any) -> DQNRouter | MaskablePPORouter:
    """A router estimator by name (``dqn`` or ``maskable-ppo``)."""
    if algo == "dqn":
        return DQNRouter(**kwargs)
    if algo in ("maskable-ppo", "ppo"):
        return MaskablePPORouter(**kwargs)
    raise ValueError(f"unknown algo {algo!r}; use 'dqn' or 'maskable-ppo'")


def _log_curve(router: Any, tmp: str) -> None:
    """The learning curve as metrics (``eval_mean_reward`` per step), CSV and plot.

    With restarts, every restart's curve is logged too (``eval_mean_reward_restart<k>``) and
    ``eval_mean_reward`` is the kept restart's.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = router.learning_curve_
    for row in curve.itertuples():
        mlflow.log_metric("eval_mean_reward", float(row.mean_reward), step=int(row.timesteps))
    every = getattr(router, "restart_curves_", None)
    if every is not None and every["restart"].nunique() > 1:
        for row in every.itertuples():
            mlflow.log_metric(f"eval_mean_reward_restart{row.restart}", float(row.mean_reward),
                              step=int(row.timesteps))
        mlflow.log_metric("best_restart", int(router.best_restart_))
    path = os.path.join(tmp, "learning_curve.csv")
    (curve if every is None else every).to_csv(path, index=False)
    mlflow.log_artifact(path)
    if len(curve):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.errorbar(curve["timesteps"], curve["mean_reward"], yerr=curve["std_reward"])
        ax.set(xlabel="timesteps", ylabel="mean episode reward", title="learning curve")
        fig.tight_layout()
        mlflow.log_figure(fig, "learning_curve.png")
        plt.close(fig)


def scenario_family(scenario: str) -> str:
    """Registry family of a scenario's router.

    ``warehouse_router`` for ``easy`` (the one the HTTP service loads), and
    ``warehouse_router_<scenario>`` for a hard scenario (its own champion and gate).
    """
    return FAMILY if scenario == "easy" else f"{FAMILY}_{scenario}"


def gate_episodes(router: Any, config: RoutingConfig, seeds: Any = GATE_SEEDS
                  ) -> pd.DataFrame:
    """Per-episode results of the router (masked and raw) and the baselines on the gate."""
    from models.routing.dualprice import DualPrice

    env = WarehouseRoutingEnv(config, network=router.network_)
    policies = [router.as_policy(masked=True), router.as_policy(masked=False),
                NearestWithStock(), MyopicGreedy()]
    if config.extended_obs:  # hard scenarios: the forecast-aware baseline too
        policies.append(DualPrice())
    return pd.concat([evaluate(env, p, seeds) for p in policies])


def gate_summary(router: Any, config: RoutingConfig, seeds: Any = GATE_SEEDS
                 ) -> pd.DataFrame:
    """Router (masked and raw) and the simple baselines on the gate episodes."""
    return summarise(gate_episodes(router, config, seeds))


def gate_choice(router: Any, config: RoutingConfig, seeds: Any = GATE_SEEDS,
                episodes: pd.DataFrame | None = None) -> tuple[str, float, float]:
    """Which policy a hard scenario should ship: the learned router or the dual-price one.

    The router wins only if it beats the dual-price heuristic on the gate episodes beyond
    2 standard errors of the paired difference; otherwise dual-price is the choice.

    Args:
        router: The fitted router.
        config: The scenario's configuration.
        seeds: Gate episodes.
        episodes: Their per-episode results (:func:`gate_episodes`), if already played.

    Returns:
        (``router.algo_name`` or ``"dual-price"``, paired mean difference, its se).
    """
    episodes = gate_episodes(router, config, seeds) if episodes is None else episodes
    by = episodes.pivot_table(index="seed", columns="policy", values="reward")
    diff = (by[router.algo_name] - by["dual-price"]).to_numpy()
    se = float(diff.std(ddof=1) / len(diff) ** 0.5) if len(diff) > 1 else float("inf")
    choice = router.algo_name if diff.mean() > 2 * se else "dual-price"
    return choice, float(diff.mean()), se


def _log_gate(router: Any, config: RoutingConfig, gate_seeds: Any, tmp: str
              ) -> tuple[pd.DataFrame, str, float]:
    """Play and log the gate; returns its summary, the shipped policy and its mean reward."""
    episodes = gate_episodes(router, config, gate_seeds)
    summary = summarise(episodes)
    mine = summary.iloc[0]
    mlflow.log_metrics({"router_mean_reward": float(mine["reward"]),
                        "on_time_rate": float(mine["on_time_rate"]),
                        "cost_per_order": float(mine["cost_per_order"]),
                        "invalid_rate_raw": float(summary.iloc[1]["invalid_rate"]),
                        "greedy_mean_reward": float(summary.iloc[3]["reward"]),
                        "nearest_mean_reward": float(summary.iloc[2]["reward"])})
    choice, shipped = router.algo_name, float(mine["reward"])
    if config.extended_obs:
        dual = float(summary.iloc[4]["reward"])
        mlflow.log_metric("dual_price_mean_reward", dual)
        choice, diff, se = gate_choice(router, config, gate_seeds, episodes)
        mlflow.log_metrics({"vs_dual_price_diff": diff, "vs_dual_price_se": se})
        mlflow.set_tag("gate_choice", choice)
        shipped = shipped if choice == router.algo_name else dual
    mlflow.log_metric(GATE_METRIC, shipped)  # the shipped policy's mean reward
    summary.to_csv(os.path.join(tmp, "gate_summary.csv"), index=False)
    mlflow.log_artifact(os.path.join(tmp, "gate_summary.csv"))
    return summary, choice, shipped


def _register(router: Any, config: RoutingConfig, name: str, choice: str, shipped: float,
              tmp: str) -> Any:
    """Log the pyfunc of the shipped policy, register it (tagged) and run the champion gate."""
    from mlflow import MlflowClient

    from models.routing.rows_extended import example_extended_rows

    zip_path = os.path.join(tmp, "router.zip")
    router.save(zip_path)
    policy = "router" if choice == router.algo_name else "dual-price"
    model = WarehouseRouterModel(router.algo_name, router.network_, config, router, policy)
    example = (example_extended_rows(router.network_, config) if config.extended_obs
               else example_rows(router.network_))
    version = log_pyfunc(model, name, example, artifacts={ARTIFACT: zip_path})
    client = MlflowClient()
    for key, value in (("scenario", config.scenario), ("policy", choice)):
        client.set_model_version_tag(name, version, key, value)
    return promote_if_better(name, version, GATE_METRIC, shipped, higher_is_better=True)


def train_router(algo: str = "dqn", total_timesteps: int = 100_000,
                 config: RoutingConfig | None = None, gate_seeds: Any = GATE_SEEDS,
                 register: bool = True, tracking_uri: str | None = None,
                 tenant: str | None = None, scenario: str | None = None,
                 **router_kwargs: Any) -> TrainOutcome:
    """Train, evaluate, log, register and gate a router.

    A hard scenario's router is registered as ``warehouse_router_<scenario>__<tenant>``
    (:func:`scenario_family`; its own champion, gated on that scenario's episodes) with the
    policy its gate ships: the learned router if it beats dual-price beyond 2 se on the gate
    episodes, else the dual-price heuristic (the router's prior alone).

    Args:
        algo: ``dqn`` or ``maskable-ppo``.
        total_timesteps: Training steps.
        config: Environment configuration.
        gate_seeds: Seeds of the evaluation episodes used by the gate.
        register: Log the pyfunc, register it and run the champion gate.
        tracking_uri: MLflow URI (defaults to the settings').
        tenant: Tenant the router is for (default: the settings' tenant).
        scenario: Named scenario whose config to train on (when ``config`` is None).
        **router_kwargs: Passed to the router (hyperparameters, ``progress_bar``, ...).

    Returns:
        The train-and-gate outcome; ``outcome.report`` holds the fitted router and the gate
        summary table (the gate is None when ``register`` is False).
    """
    config = config or (scenario_config(scenario) if scenario else RoutingConfig())
    tenant = validate_tenant(tenant or get_settings().tenant_id)
    family = scenario_family(config.scenario)
    configure_mlflow(tracking_uri)
    use_experiment(EXPERIMENT)
    router = make_router(algo, total_timesteps=total_timesteps, env_config=config,
                         **router_kwargs)
    with mlflow.start_run(run_name=f"{algo}-router-{config.scenario}-{tenant}") as run, \
            tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tags({"tenant": tenant, "family": family, "scenario": config.scenario})
        mlflow.log_params({f"algo.{k}": v for k, v in router.flat_params().items()})
        mlflow.log_params({f"env.{k}": v for k, v in asdict(config).items()
                           if k != "sampler"})
        mlflow.log_params({f"sampler.{k}": str(v)[:500]
                           for k, v in asdict(config.sampler).items()})
        router.fit(WarehouseRoutingEnv(config))
        mlflow.log_metric("train_seconds", router.train_seconds_)
        _log_curve(router, tmp)
        summary, choice, shipped = _log_gate(router, config, gate_seeds, tmp)
        gate = None
        if register:
            gate = _register(router, config, registered_name(family, tenant), choice,
                             shipped, tmp)
    return outcome(family, tenant, run.info.run_id, gate, RouterReport(router, summary))


class ChampionPolicy:
    """Routes through a ``warehouse_router__<tenant>`` champion (the served pyfunc), row by row."""

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
                      tracking_uri: str | None = None, tenant: str | None = None
                      ) -> tuple[pd.DataFrame, str | None]:
    """Baselines (and the tenant's registered champion) on the same seeded episodes.

    Returns:
        The summary table and a note when the champion was asked for but is missing
        (None otherwise). A corrupt or unreachable store raises ``TrackingStoreError``
        before any episode runs; a missing store is never created.
    """
    from models.routing.baselines import Clairvoyant, RandomValid
    from oms.tracking import NoStoreError
    from pipelines.registry import load_champion

    tenant = validate_tenant(tenant or get_settings().tenant_id)
    policies: list[Any] = [RandomValid(0), NearestWithStock(), MyopicGreedy(), Clairvoyant()]
    note = None
    if champion:
        try:
            configure_mlflow(tracking_uri, read_only=True)
            policies.append(ChampionPolicy(load_champion(registered_name(FAMILY, tenant))))
        except (NoStoreError, LookupError) as e:
            note = f"champion not evaluated: {e}"
    config = config or RoutingConfig()
    if config.extended_obs:
        from models.routing.dualprice import DualPrice

        policies.insert(3, DualPrice())
    env = WarehouseRoutingEnv(config)
    return summarise(pd.concat([evaluate(env, p, seeds) for p in policies])), note
