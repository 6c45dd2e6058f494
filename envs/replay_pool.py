"""An environment over a pool of replayed windows (real order streams), for training and selection.

:class:`ReplayPoolEnv` is :class:`envs.warehouse_routing.WarehouseRoutingEnv` whose episodes are
the given replayed windows instead of sampled ones: ``reset(seed=s)`` replays window
``s mod K`` (so ``K`` consecutive seeds enumerate the pool once, and every policy evaluated on
the same seeds plays the same windows), and an unseeded ``reset()`` draws a window with the
env's own generator (seeded by the last seeded reset), so training is seeded-deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from envs.scenarios import EpisodeSpec
from envs.warehouse_routing import RoutingConfig, WarehouseRoutingEnv


class ReplayPoolEnv(WarehouseRoutingEnv):
    """Routing env whose episodes are replayed windows (see the module docstring).

    Args:
        config: Environment configuration (``backlog``, ``extended_obs``, ...).
        episodes: The windows; all on the same warehouses (capacities may differ).
    """

    def __init__(self, config: RoutingConfig, episodes: Sequence[EpisodeSpec]) -> None:
        if not episodes:
            raise ValueError("ReplayPoolEnv needs at least one replayed window")
        ids = episodes[0].network.warehouse_ids
        other = [k for k, e in enumerate(episodes) if e.network.warehouse_ids != ids]
        if other:
            raise ValueError(f"windows {other[:5]} are on other warehouses than window 0 "
                             f"({ids})")
        self.episodes = list(episodes)
        super().__init__(config, network=episodes[0].network)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Replay window ``seed mod K`` (seeded) or a window drawn by ``self.np_random``."""
        if (options or {}).get("spec") is not None:
            return super().reset(seed=seed, options=options)
        if seed is not None:
            super(WarehouseRoutingEnv, self).reset(seed=seed)  # gym.Env: seed np_random
            k = int(seed) % len(self.episodes)
        else:
            k = int(self.np_random.integers(len(self.episodes)))
        return super().reset(options={"spec": self.episodes[k]})
