"""Place orders through a running ``oms-ml serve`` with the typed client and order intake.

Start the service first (a champion router registered as ``warehouse_router__demo``; without
one the service still answers from the nearest-with-stock fallback, ``degraded: true``)::

    export OMS_ML_SERVING_API_KEYS='{"demo": "demo-key-0123456789abcdef"}'
    oms-ml serve --port 8080 &
    python examples/place_orders.py --url http://127.0.0.1:8080 --key demo-key-0123456789abcdef

Each order is validated against the ``orders`` contract, routed by the service, and its
``OrderCreated`` + ``WarehouseAssigned`` events are landed in the landing zone
(``order_events``), which the next ``oms-ml ingest`` brings into the lake; placing the same
order again changes nothing (``duplicate``).
"""

from __future__ import annotations

import argparse

from envs.scenarios import SamplerConfig, sample_network
from oms.client import OmsClient
from oms.intake import intake_order


def main() -> None:
    """Place three example orders (one warehouse down) and print the decisions."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--key", required=True, help="the tenant's API key")
    p.add_argument("--lake", default=None, help="lake root (default: settings)")
    p.add_argument("--landing", default=None, help="landing root (default: settings)")
    args = p.parse_args()
    ids = sample_network(SamplerConfig()).warehouse_ids
    with OmsClient(args.url, args.key) as client:
        print("ready:", client.ready()["degraded"] and "degraded (fallback)" or "champion loaded")
        for i, (lat, lon) in enumerate([(31.2, 121.4), (30.3, 120.2), (32.1, 118.8)]):
            order = {"tenant_id": "demo", "order_id": f"example-{i}", "customer_id": f"c{i}",
                     "order_ts": "2024-06-01T02:00:00Z", "channel": "app", "region": "east",
                     "total_amount": 50.0 + 10 * i, "promised_hours": 24.0}
            routing = {"customer_tier": "gold", "customer_lat": lat, "customer_lon": lon,
                       "warehouses": {w: {"load": 2, "stock": 5, "up": w != ids[0]}
                                      for w in ids}}
            res = intake_order(client, order, routing, lake=args.lake, landing=args.landing)
            print(f"{res.order_id}: {res.warehouse_id or 'unroutable'}"
                  f"{' (duplicate)' if res.duplicate else ''}"
                  f"{' [degraded]' if res.degraded else ''} -> {res.events_uri}")


if __name__ == "__main__":
    main()
