"""MLflow pyfunc adapter for the warehouse router (the one place routing meets MLflow).

The SB3 model travels as an artifact (``router.zip``); the network and environment
configuration are pickled with the adapter. ``predict`` takes order+state rows and returns
a warehouse per row (see ``models.routing.rows``), never an invalid one.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd

from envs.scenarios import Network
from envs.warehouse_routing import RoutingConfig
from models.routing.rows import route_frame

ARTIFACT = "router"


class WarehouseRouterModel(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper around a fitted ``DQNRouter`` or ``MaskablePPORouter``.

    Args:
        algo: ``"dqn"`` or ``"maskable-ppo"``.
        network: Warehouse network the router was trained on.
        config: Environment configuration it was trained with.
        router: The fitted router (used before logging; reloaded from the artifact after).
    """

    def __init__(self, algo: str, network: Network, config: RoutingConfig,
                 router: Any = None) -> None:
        self.algo = algo
        self.network = network
        self.config = config
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

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Route each row: ``warehouse_id``, ``routable``, ``reason``, ``score__<W>``."""
        if self._router is None:
            raise RuntimeError("router not loaded; log it with its artifact first")
        if not isinstance(model_input, pd.DataFrame):
            shape = getattr(model_input, "shape", None)
            raise ValueError("the router takes order+state rows (a DataFrame with the columns "
                             f"of models.routing.rows.input_columns), got "
                             f"{type(model_input).__name__}"
                             + (f" of shape {shape}" if shape is not None else ""))
        return route_frame(self._router, self.network, self.config, pd.DataFrame(model_input))
