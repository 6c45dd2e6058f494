"""MLflow pyfunc adapter for the warehouse router (the one place routing meets MLflow).

The SB3 model travels as an artifact (``router.zip``); the network and environment
configuration are pickled with the adapter. ``predict`` takes order+state rows and returns
a warehouse per row, never an invalid one: the ``easy`` scenario's rows are those of
:mod:`models.routing.rows`; a hard scenario's router (``scenario`` recorded on the adapter,
``config.extended_obs``) takes the rows of :mod:`models.routing.rows_extended` (SKU, day,
backlog and the stock of every SKU) and builds the extended observation from them.

``policy`` is what the training gate shipped: ``"router"`` (the learned router's scores) or
``"dual-price"`` (the router's dual-price prior alone: immediate reward minus the bid price,
exactly the dual-price heuristic; chosen when the learned router did not beat it).
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd

from envs.scenarios import Network
from envs.warehouse_routing import RoutingConfig
from models.routing.rows import route_frame

ARTIFACT = "router"
POLICIES = ("router", "dual-price")


class WarehouseRouterModel(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper around a fitted ``DQNRouter`` or ``MaskablePPORouter``.

    Args:
        algo: ``"dqn"`` or ``"maskable-ppo"``.
        network: Warehouse network the router was trained on.
        config: Environment configuration it was trained with (its ``scenario``).
        router: The fitted router (used before logging; reloaded from the artifact after).
        policy: ``"router"`` or ``"dual-price"`` (hard scenarios only), see the module doc.
    """

    def __init__(self, algo: str, network: Network, config: RoutingConfig,
                 router: Any = None, policy: str = "router") -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        if policy == "dual-price" and not config.extended_obs:
            raise ValueError("the dual-price policy needs a hard scenario's extended "
                             "observation (its bid prices)")
        self.algo = algo
        self.network = network
        self.config = config
        self.scenario = config.scenario
        self.policy = policy
        self._router = router

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_router"] = None  # the SB3 model travels as the artifact, not in the pickle
        return state

    def load_context(self, context: Any) -> None:
        """Load the SB3 model from the logged artifact."""
        from models.routing.agent import DQNRouter, MaskablePPORouter

        cls = DQNRouter if self.algo == "dqn" else MaskablePPORouter
        self._router = cls.load(context.artifacts[ARTIFACT], self.config)

    def scores(self, obs: np.ndarray) -> np.ndarray:
        """Scores of the shipped policy per action, (N, W + 1)."""
        if getattr(self, "policy", "router") == "dual-price":
            import torch

            from models.routing.qnet import immediate_reward_prior, reward_weights

            t = torch.as_tensor(np.asarray(obs, np.float32))
            return immediate_reward_prior(t, self.network.n, reward_weights(self.config),
                                          extended=True, bid_price=True).numpy().astype(float)
        return self._router.scores(obs)

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Route each row: ``warehouse_id``, ``routable``, ``reason``, ``score__<W>``."""
        if self._router is None:
            raise RuntimeError("router not loaded; log it with its artifact first")
        if not isinstance(model_input, pd.DataFrame):
            shape = getattr(model_input, "shape", None)
            module = ("rows_extended.extended_input_columns" if self.config.extended_obs
                      else "rows.input_columns")
            raise ValueError("the router takes order+state rows (a DataFrame with the columns "
                             f"of models.routing.{module}), got "
                             f"{type(model_input).__name__}"
                             + (f" of shape {shape}" if shape is not None else ""))
        if self.config.extended_obs:
            from models.routing.rows_extended import route_extended_frame

            return route_extended_frame(self.scores, self.network, self.config,
                                        pd.DataFrame(model_input))
        return route_frame(self._router, self.network, self.config, pd.DataFrame(model_input))
