"""The DQN's Q-network: the greedy prior (immediate reward from the observation) + a residual.

With a zero residual the Q-network is exactly the myopic-greedy policy; training only has to
learn how an action changes the *future* (queues, stock, capacity left for later orders).
The prior reads the observation through :class:`envs.observation.ObservationSpec` and scores
it with :func:`envs.physics.reward`, the same formula the environment pays.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import torch
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork

from envs.observation import HOURS_FACTOR, PRICE_SCALE, WAREHOUSE_FIELDS, ObservationSpec
from envs.physics import RewardWeights, reward


def reward_weights(config: Any) -> RewardWeights:
    """The reward weights of a routing config (any object with those attributes)."""
    return RewardWeights(**{f.name: getattr(config, f.name) for f in fields(RewardWeights)})


def immediate_reward_prior(obs: torch.Tensor, n_warehouses: int, weights: RewardWeights,
                           extended: bool = False, bid_price: bool = False) -> torch.Tensor:
    """Each action's immediate reward, recomputed from a batch of observations (torch).

    Invalid warehouses (down, short of stock, at capacity) and "unroutable" get the lower of
    the two penalties. Shape (N, W + 1). With the ``extended`` observation the validity is
    its ``open`` field (the environment's mask, which knows about backlog); with
    ``bid_price`` each warehouse's bid price (the ``price`` field) is charged, which makes
    the zero-residual policy the dual-price heuristic instead of myopic greedy.
    """
    spec = ObservationSpec(n_warehouses, extended)
    blk = {name: spec.read(obs, name) for name in (*WAREHOUSE_FIELDS, "qty")}
    # cost block = cost / cost_scale; hours block = hours / (HOURS_FACTOR * hours_scale)
    r = reward(blk["cost"], blk["hours"], blk["on_time"], weights, cost_scale=1.0,
               hours_scale=1.0 / HOURS_FACTOR)
    if extended and bid_price:
        r = r - PRICE_SCALE * spec.read(obs, "price")
    if extended:
        valid = spec.read(obs, "open") > 0.5
    else:
        valid = ((blk["up"] > 0.5) & (blk["stock"] >= blk["qty"] - 1e-6)
                 & (blk["load"] < 1 - 1e-6))
    penalty = min(weights.invalid_penalty, weights.unroutable_penalty)
    r = torch.where(valid, r, torch.full_like(r, penalty))
    return torch.cat([r, torch.full_like(r[:, :1], penalty)], dim=1)


class PriorQNetwork(QNetwork):
    """Q(s, a) = immediate reward of a (known from s) + a learned residual over all of s."""

    def __init__(self, *args: Any, prior: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prior = prior

    @property
    def prior_args(self) -> dict[str, Any]:
        """Keyword arguments of :func:`immediate_reward_prior` (the prior dict's own keys)."""
        return {k: v for k, v in self.prior.items() if k != "state_value"}

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Residual Q-values plus the immediate-reward prior, (N, obs) → (N, W + 1)."""
        return super().forward(obs) + immediate_reward_prior(obs, **self.prior_args)


class SharedHeadQNetwork(PriorQNetwork):
    """Prior + a residual from one MLP shared by all warehouses.

    The residual of warehouse ``a`` sees the order features, ``a``'s own block values and
    the network-wide mean of every block, so what is learned about one warehouse's queue or
    stock transfers to all of them; "unroutable" gets a learned constant residual.
    """

    def __init__(self, *args: Any, prior: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, prior=prior, **kwargs)
        self.spec = ObservationSpec(int(prior["n_warehouses"]), bool(prior.get("extended")))
        arch = [int(h) for h in kwargs.get("net_arch", [64, 64])]
        dims = [self.spec.order_size + 2 * len(self.spec.warehouse_fields), *arch]
        layers: list[torch.nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        self.shared = torch.nn.Sequential(*layers, torch.nn.Linear(dims[-1], 1))
        self.unroutable = torch.nn.Parameter(torch.zeros(1))
        self.value: torch.nn.Module | None = None
        if prior.get("state_value"):  # dueling: one V(s) shared by every action
            self.value = torch.nn.Sequential(
                torch.nn.Linear(self.spec.size, arch[0]), torch.nn.ReLU(),
                torch.nn.Linear(arch[0], 1))

    def zero_residual(self) -> None:
        """Zero the residual's output layer: the Q-network starts exactly at the prior."""
        with torch.no_grad():
            self.shared[-1].weight.zero_()
            self.shared[-1].bias.zero_()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Shared per-warehouse residuals plus the prior, (N, obs) → (N, W + 1)."""
        w, n_order = self.spec.n_warehouses, self.spec.order_size
        blocks = self.spec.warehouse_blocks(obs)  # (N, W, K)
        mean = blocks.mean(dim=1, keepdim=True).expand(-1, w, -1)  # (N, W, K)
        order = obs[:, None, :n_order].expand(-1, w, -1)  # (N, W, n_order)
        res = self.shared(torch.cat([order, blocks, mean], dim=2)).squeeze(2)  # (N, W)
        res = torch.cat([res, self.unroutable.expand(obs.shape[0], 1)], dim=1)  # (N, W + 1)
        if self.value is not None:
            res = res + self.value(obs)
        return res + immediate_reward_prior(obs, **self.prior_args)


class GreedyPriorDQNPolicy(DQNPolicy):
    """DQN policy whose Q-network starts from the myopic-greedy values and learns the rest.

    Args:
        prior: ``{"n_warehouses": W, "weights": RewardWeights, "extended": bool,
            "bid_price": bool}`` for the prior (``extended``: the observation has the hard
            scenarios' fields; ``bid_price``: charge the bid price, a dual-price prior).
        shared_head: Use :class:`SharedHeadQNetwork` instead of :class:`PriorQNetwork`.
        zero_residual: With ``shared_head``, start the residual at exactly zero, so the
            untrained policy is the prior's (greedy, or dual-price with ``bid_price``).
    """

    def __init__(self, *args: Any, prior: dict[str, Any] | None = None,
                 shared_head: bool = False, zero_residual: bool = False,
                 **kwargs: Any) -> None:
        self.prior = prior or {}
        self.shared_head = shared_head
        self.zero_residual = zero_residual
        super().__init__(*args, **kwargs)

    def make_q_net(self) -> QNetwork:
        """Build the prior-augmented Q-network."""
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        cls = SharedHeadQNetwork if self.shared_head else PriorQNetwork
        net = cls(**net_args, prior=self.prior)
        if self.zero_residual and isinstance(net, SharedHeadQNetwork):
            net.zero_residual()
        return net.to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return super()._get_constructor_parameters() | {"prior": self.prior,
                                                         "shared_head": self.shared_head,
                                                         "zero_residual": self.zero_residual}
