"""Checkpoint selection for the routers: periodic *masked* evaluation on fixed validation episodes.

SB3's ``EvalCallback`` plays the raw (unmasked) policy and keeps the best checkpoint on disk.
The routers are served masked, so :class:`MaskedSelection` evaluates exactly what ships
(``router.as_policy(masked=True)`` through :func:`models.routing.baselines.evaluate`) on the
same seeded validation episodes every time, records the learning curve and keeps the best
policy weights in memory. The validation seeds (``SELECTION_SEEDS``) are disjoint from the
gate's (500,000…), the bench's held-out seeds (1,000,000…) and the stream the hard-scenario
hyperparameters were first chosen on (2,000,000…); they do not depend on the training seed,
so restarts with different seeds are compared on the same episodes.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from models.routing.baselines import evaluate

SELECTION_SEEDS = 3_000_000  # first validation seed of the masked checkpoint selection


def selection_seeds(n_episodes: int) -> range:
    """The fixed validation episodes of the masked selection (``n_episodes`` of them)."""
    return range(SELECTION_SEEDS, SELECTION_SEEDS + int(n_episodes))


class MaskedSelection(BaseCallback):
    """Every ``eval_freq`` steps (and before training) score the masked router; keep the best.

    Args:
        router: The router being fitted (its ``model_`` is the SB3 model being trained).
        env: An environment of the training scenario used only for evaluation.
        seeds: Validation episode seeds.
        eval_freq: Environment steps between evaluations.

    Attributes:
        timesteps, means, stds: The learning curve (mean and std of the episode reward).
        rewards: Per-episode rewards of each evaluation (paired across evaluations).
        best_mean: Best mean reward so far; ``best_state`` the policy weights that scored it.
    """

    def __init__(self, router: Any, env: Any, seeds: range, eval_freq: int) -> None:
        super().__init__(verbose=0)
        self.router, self.env, self.seeds = router, env, seeds
        self.eval_freq = max(int(eval_freq), 1)
        self.timesteps: list[int] = []
        self.means: list[float] = []
        self.stds: list[float] = []
        self.rewards: list[np.ndarray] = []
        self.best_mean = -np.inf
        self.best_state: dict[str, Any] | None = None

    def evaluate_now(self) -> float:
        """Play the validation episodes masked; record the point; keep the weights if best."""
        r = evaluate(self.env, self.router.as_policy(masked=True), self.seeds)["reward"]
        r = r.to_numpy(float)
        mean = float(r.mean())
        self.timesteps.append(int(self.model.num_timesteps))
        self.means.append(mean)
        self.stds.append(float(r.std()))
        self.rewards.append(r)
        if mean > self.best_mean:
            self.best_mean = mean
            self.best_state = copy.deepcopy(self.model.policy.state_dict())
        return mean

    def _on_training_start(self) -> None:
        # the first point is the untrained policy (with a zero residual: the prior's)
        self.evaluate_now()

    def _on_step(self) -> bool:
        if self.n_calls % self.eval_freq == 0:
            self.evaluate_now()
        return True

    def restore_best(self) -> None:
        """Load the best weights into the model (no-op before any evaluation)."""
        if self.best_state is not None:
            self.model.policy.load_state_dict(self.best_state)
