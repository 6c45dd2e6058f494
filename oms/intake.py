"""Order intake: validate against the contract, ask the router, land the decision as events.

``intake_order`` is what the thin OMS core calls when an order arrives:

1. the order header is validated against the ``orders`` contract (``oms.validate``); a bad
   order raises :class:`IntakeError` with the contract's reasons and nothing is written;
2. the routing service picks a warehouse (``oms.client``);
3. ``OrderCreated`` and ``WarehouseAssigned`` are written together as one parquet file into
   the **landing zone** (``<landing>/order_events/intake-<key>.parquet``, temporary file +
   rename, :func:`land_events`); the next ``oms-ml ingest`` validates them like every other
   source and upserts them into the lake's ``order_events`` by primary key, so tomorrow's
   features and the next routing training see today's decisions.

Why the landing zone and not a lake transaction per order: the lake has one writer, ingest,
which validates, quarantines and publishes every table as one version under the lake's lock.
A ``Transaction`` per order would take that lock and build a whole new snapshot (a hard
link per lake file) for two rows — an order would wait behind a running ingest, and a busy
day would leave thousands of snapshots. Landing costs one small file and no lock, and the
events still pass the contract checks on their way in.

Nothing is duplicated on retry: the file name and the event ids derive from ``(tenant,
order_id)``. A second intake of the same order — before the next ingest (its landing file
exists) or after it (its event ids are in the lake) — returns the recorded decision
(``duplicate=True``) without asking the router again or writing anything; and should the same
file be ingested twice, the upsert by ``(tenant_id, event_id)`` replaces rows, never adds.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import pandas as pd

from oms.client import OmsClient
from oms.contract import ORDER_EVENTS

_LOCK = threading.Lock()


class IntakeError(ValueError):
    """The order breaks the contract; ``reasons`` lists what is wrong."""

    def __init__(self, order_id: str, reasons: list[str]) -> None:
        super().__init__(f"order {order_id!r} refused: {'; '.join(reasons)}")
        self.reasons = reasons


@dataclass(frozen=True)
class IntakeResult:
    """What intake did with one order."""

    order_id: str
    warehouse_id: str | None
    routable: bool
    reason: str | None
    degraded: bool
    duplicate: bool
    events_uri: str


def order_key(tenant: str, order_id: str) -> str:
    """Stable short key of an order (file names and event ids)."""
    return hashlib.sha256(f"{tenant}\x1f{order_id}".encode()).hexdigest()[:20]


def events_uri(landing: str, tenant: str, order_id: str) -> str:
    """Where the intake events of one order are landed (``order_events`` in the landing)."""
    from oms.lake import table_uri

    return f"{table_uri(landing, ORDER_EVENTS.name)}/intake-{order_key(tenant, order_id)}.parquet"


def land_events(events: pd.DataFrame, uri: str) -> None:
    """Land one order's events atomically (one parquet file: temporary file + rename)."""
    from oms.lake import write_frame

    write_frame(events, uri)


def recorded(landing_uri: str, lake: str, tenant: str, order_id: str) -> pd.DataFrame | None:
    """This order's intake events if it was taken in before (landed or already ingested)."""
    import pyarrow.dataset as ds

    from oms.lake import LakeError, exists, read_table, table_uri

    if exists(landing_uri):
        return read_table(landing_uri)
    ids = [f"{order_key(tenant, order_id)}-{s}" for s in ("created", "assigned")]
    try:
        found = read_table(table_uri(lake, ORDER_EVENTS.name),
                           columns=["tenant_id", "event_id", "event_type", "warehouse_id"],
                           filter=ds.field("event_id").isin(ids))
    except LakeError:  # no order_events in the lake yet
        return None
    found = found[found["tenant_id"].astype(str) == tenant]
    return found if len(found) else None


def _validate(order: dict[str, Any], tz: str) -> pd.DataFrame:
    """One conformed ``orders`` row, or :class:`IntakeError` with the contract's reasons."""
    from oms.validate import ContractError, validate_frame

    ts = pd.Timestamp(order.get("order_ts") or pd.Timestamp.now(tz="UTC"))
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    row = {"customer_id": None, "is_guest": order.get("customer_id") is None,
           "warehouse_id": None, "status": "created", "currency": "CNY", "n_lines": 1,
           "promised_hours": None, "delivery_hours": None, "is_late": None,
           "support_contacts": 0, **order, "order_ts": ts,
           "order_date": order.get("order_date") or ts.tz_convert(tz).tz_localize(None).normalize()}
    try:
        res = validate_frame(pd.DataFrame([row]), "orders", source="intake")
    except ContractError as e:
        raise IntakeError(str(order.get("order_id")), [str(e).split(": ", 1)[-1]]) from None
    if len(res.quarantine):
        raise IntakeError(str(order.get("order_id")),
                          str(res.quarantine["_reason"].iloc[0]).split("; "))
    return res.valid


def _events(o: pd.Series, warehouse_id: str | None) -> pd.DataFrame:
    """The two events in the ``order_events`` contract's column types."""
    key = order_key(str(o["tenant_id"]), str(o["order_id"]))
    now = pd.Timestamp.now(tz="UTC")
    n = 2 if warehouse_id is not None else 1
    df = pd.DataFrame({
        "tenant_id": pd.array([o["tenant_id"]] * n, dtype="string"),
        "event_id": pd.array([f"{key}-created", f"{key}-assigned"][:n], dtype="string"),
        "order_id": pd.array([o["order_id"]] * n, dtype="string"),
        "event_type": pd.array(["OrderCreated", "WarehouseAssigned"][:n], dtype="string"),
        "event_ts": pd.Series([o["order_ts"], max(now, o["order_ts"])][:n]).astype(
            "datetime64[us, UTC]"),
        "event_date": pd.Series([o["order_date"]] * n).astype("datetime64[us]"),
        "warehouse_id": pd.array([None, warehouse_id][:n], dtype="string"),
        "sku": pd.array([None] * n, dtype="string"),
        "quantity": pd.array([None] * n, dtype="Int64"),
        "amount": pd.array([float(o["total_amount"]), None][:n], dtype="Float64"
                           ).astype("float64"),
    })
    return df[ORDER_EVENTS.column_names]


def intake_order(client: OmsClient, order: dict[str, Any], routing: dict[str, Any],
                 lake: str | None = None, timezone: str | None = None,
                 landing: str | None = None) -> IntakeResult:
    """Validate, route and land one order's events (see the module docstring).

    Args:
        client: Client of the routing service, holding the tenant's key.
        order: ``orders`` contract fields (``tenant_id, order_id, order_ts, channel, region,
            total_amount`` at least; ``customer_id``, ``promised_hours``, ... optional).
        routing: The rest of the routing request: ``customer_tier``, ``customer_lat``,
            ``customer_lon``, ``warehouses`` (state per warehouse), optional ``weather``,
            ``quantity``, ``sku``, ``promo_intensity``.
        lake: Lake root, read to recognise an order already ingested (default: settings).
        timezone: Business time zone of ``order_date`` (default: settings).
        landing: Landing root the events are written to (default: settings).

    Returns:
        The decision; ``duplicate`` when this order was taken in before.
    """
    from oms.settings import get_settings

    s = get_settings()
    o = _validate(order, timezone or s.timezone).iloc[0]
    tenant, order_id = str(o["tenant_id"]), str(o["order_id"])
    uri = events_uri(landing or s.landing, tenant, order_id)
    with _LOCK:
        prev = recorded(uri, lake or s.lake, tenant, order_id)
        if prev is not None:
            assigned = prev[prev["event_type"] == "WarehouseAssigned"]
            wid = str(assigned["warehouse_id"].iloc[0]) if len(assigned) else None
            return IntakeResult(order_id, wid, wid is not None,
                                None if wid else "recorded as unroutable", False, True, uri)
        local = o["order_ts"].tz_convert(timezone or s.timezone)
        request = {"order_id": order_id, "order_value": float(o["total_amount"]),
                   "promised_hours": float(o["promised_hours"]) if pd.notna(
                       o["promised_hours"]) else 48.0,
                   "hour_of_day": local.hour + local.minute / 60, **routing}
        d = client.route(request)
        land_events(_events(o, d.warehouse_id), uri)
    return IntakeResult(d.order_id, d.warehouse_id, d.routable, d.reason, d.degraded, False,
                        uri)
