"""Small synthetic orders in the contract's shape for the risk tests (no generator run)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def toy_orders(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, ...]:
    """A small synthetic order set in the contract's shape (no generator run needed)."""
    rng = np.random.default_rng(seed)
    cust = [f"C{i:09d}" for i in range(300)]
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.uniform(0, 200 * 86400, n)), unit="s")
    orders = pd.DataFrame({
        "tenant_id": "demo", "order_id": [f"O{i:010d}" for i in range(n)],
        "customer_id": rng.choice(cust, n), "is_guest": False, "order_ts": ts,
        "order_date": ts.tz_localize(None).normalize(),
        "total_amount": np.round(rng.lognormal(5, 0.6, n), 2),
        "status": rng.choice(["delivered", "returned", "cancelled"], n, p=[0.9, 0.05, 0.05])})
    lines = pd.DataFrame({"order_id": orders["order_id"], "sku": rng.choice(
        [f"SKU{i:06d}" for i in range(40)], n), "quantity": rng.integers(1, 4, n),
        "line_amount": orders["total_amount"], "is_product": True})
    customers = pd.DataFrame({"customer_id": cust, "signup_date": pd.Timestamp("2023-01-01")
                              + pd.to_timedelta(rng.integers(0, 300, 300), unit="D"),
                              "lat": 31 + rng.normal(0, 2, 300), "lon": 118 + rng.normal(0, 3, 300),
                              "tier": rng.choice(["bronze", "silver", "gold"], 300)})
    return orders, lines, customers
