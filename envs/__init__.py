"""Gymnasium environments of oms-ml; importing this package registers them.

``import envs`` then ``gymnasium.make("oms/WarehouseRouting-v0")``.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

ROUTING_ENV_ID = "oms/WarehouseRouting-v0"

if ROUTING_ENV_ID not in registry:
    register(id=ROUTING_ENV_ID, entry_point="envs.warehouse_routing:WarehouseRoutingEnv")

__all__ = ["ROUTING_ENV_ID"]
