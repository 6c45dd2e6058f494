"""Request and response schemas of the service (strict: unknown fields and NaN are refused).

They are the OpenAPI schema of the service. ``oms.client`` (below ``serving`` in the layers)
does not import them: it speaks the same JSON over HTTP with its own small typed results.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from oms.contract import CUSTOMER_TIERS, WEATHER

ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,128}$"
WarehouseId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class Strict(BaseModel):
    """Base of every request body: extra fields and non-finite numbers are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Out(BaseModel):
    """Base of every response: NaN/Infinity never reach the wire (serialised as null)."""

    model_config = ConfigDict(ser_json_inf_nan="null")


class WarehouseState(Strict):
    """Live state of one warehouse for one order."""

    load: int = Field(0, ge=0, le=1_000_000, description="Orders already assigned today.")
    stock: int = Field(ge=0, le=1_000_000_000, description="Units of the order's SKU on hand.")
    up: bool = Field(True, description="Whether the warehouse is running.")


class RouteRequest(Strict):
    """One order to route, with the state of the warehouses that could serve it."""

    order_id: str = Field(pattern=ID_PATTERN)
    order_value: float = Field(ge=0, le=10_000_000)
    customer_tier: Literal[CUSTOMER_TIERS]  # type: ignore[valid-type]
    promised_hours: float = Field(gt=0, le=1_000)
    hour_of_day: float = Field(ge=0, le=24)
    weather: Literal[WEATHER] = "sunny"  # type: ignore[valid-type]
    customer_lat: float = Field(ge=-90, le=90)
    customer_lon: float = Field(ge=-180, le=180)
    promo_intensity: float = Field(0.0, ge=0, le=1)
    quantity: int = Field(1, ge=1, le=100_000)
    sku: str | None = Field(None, pattern=ID_PATTERN)
    warehouses: dict[WarehouseId, WarehouseState] = Field(
        min_length=1, max_length=1_000,
        description="State per warehouse id; warehouses left out are treated as unable to serve.")


class BatchRouteRequest(Strict):
    """Many orders routed in one call."""

    orders: list[RouteRequest] = Field(min_length=1)


class ModelRef(Out):
    """Which registered model version answered."""

    name: str
    version: str


class WarehouseScore(Out):
    """One warehouse's score for an order; ``score`` is null where it cannot serve."""

    warehouse_id: str
    score: float | None
    expected_cost: float | None
    expected_delivery_hours: float | None
    masked: bool
    reason: str | None


class RouteResponse(Out):
    """Routing decision for one order."""

    order_id: str
    tenant: str
    warehouse_id: str | None = Field(description="Chosen warehouse; null when unroutable.")
    routable: bool
    reason: str | None = Field(description="Why the order is unroutable (null if routable).")
    expected_cost: float | None
    expected_delivery_hours: float | None
    degraded: bool = Field(description="True when answered by the nearest-with-stock fallback.")
    model: ModelRef | None
    warehouses: list[WarehouseScore]


class BatchRouteResponse(Out):
    """Routing decisions, in request order."""

    tenant: str
    degraded: bool
    model: ModelRef | None
    results: list[RouteResponse]


class RerouteWarehouse(Strict):
    """A warehouse of the rerouting batch."""

    warehouse_id: str = Field(pattern=ID_PATTERN)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    capacity: int = Field(ge=0, le=100_000_000, description="Open orders it can still ship.")
    cost_per_order: float = Field(ge=0, le=1_000_000)


class RerouteOrder(Strict):
    """An open order (one unit to ship) and its current warehouse."""

    order_id: str = Field(pattern=ID_PATTERN)
    warehouse_id: str | None = Field(None, pattern=ID_PATTERN)
    sku: str = Field(pattern=ID_PATTERN)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    promised_hours: float | None = Field(None, gt=0, le=1_000)


class RerouteStock(Strict):
    """Units available for these open orders at one warehouse."""

    warehouse_id: str = Field(pattern=ID_PATTERN)
    sku: str = Field(pattern=ID_PATTERN)
    on_hand: int = Field(ge=0, le=1_000_000_000)


Lat = Annotated[float, Field(ge=-90, le=90)]
Lon = Annotated[float, Field(ge=-180, le=180)]
Hours = Annotated[float, Field(gt=0, le=1_000)]
OrderId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class RerouteOrderColumns(Strict):
    """Open orders as columns (one list per field, equal lengths): the bulk format.

    Parsing and validating a few long lists is far cheaper than 100,000 small objects.
    """

    order_id: list[OrderId] = Field(min_length=1)
    warehouse_id: list[OrderId | None]
    sku: list[OrderId]
    lat: list[Lat]
    lon: list[Lon]
    promised_hours: list[Hours | None] | None = None

    @model_validator(mode="after")
    def _same_length(self) -> RerouteOrderColumns:
        n = len(self.order_id)
        for name in ("warehouse_id", "sku", "lat", "lon", "promised_hours"):
            col = getattr(self, name)
            if col is not None and len(col) != n:
                raise ValueError(f"column {name} has {len(col)} values, order_id has {n}")
        return self


class RerouteRequest(Strict):
    """Warehouses marked down: reassign every affected open order (min-cost flow).

    Give the open orders either as ``orders`` (a list of objects) or as ``order_columns``
    (the bulk format; the answer then comes as ``assignment_columns``).
    """

    down: list[str] = Field(min_length=1, max_length=1_000)
    warehouses: list[RerouteWarehouse] = Field(min_length=1, max_length=1_000)
    stock: list[RerouteStock] = Field(max_length=5_000_000)
    orders: list[RerouteOrder] | None = Field(None, min_length=1)
    order_columns: RerouteOrderColumns | None = None

    @model_validator(mode="after")
    def _one_format(self) -> RerouteRequest:
        if (self.orders is None) == (self.order_columns is None):
            raise ValueError("give exactly one of orders or order_columns")
        return self

    @property
    def n_orders(self) -> int:
        """Number of open orders in either format."""
        return len(self.orders) if self.orders is not None else len(
            self.order_columns.order_id)


class Reassignment(Out):
    """Where one open order goes after the rerouting."""

    order_id: str
    old_warehouse_id: str | None
    new_warehouse_id: str | None
    routable: bool
    moved: bool
    reason: str | None
    cost: float | None
    added_cost: float | None
    expected_hours: float | None


class RerouteReport(Out):
    """Summary of the rerouting batch."""

    orders: int
    down: list[str]
    orders_on_down_warehouses: int
    orders_moved: int
    moved_from_down: int
    moved_from_up: int
    unroutable: int
    added_cost: float
    total_cost: float
    solve_seconds: float
    solver: str


class ReassignmentColumns(Out):
    """:class:`Reassignment` fields as columns (answer to ``order_columns``)."""

    order_id: list[str]
    old_warehouse_id: list[str | None]
    new_warehouse_id: list[str | None]
    routable: list[bool]
    moved: list[bool]
    reason: list[str | None]
    cost: list[float | None]
    added_cost: list[float | None]
    expected_hours: list[float | None]


class RerouteResponse(Out):
    """Reassignments (request order) and the report; rows or columns as in the request."""

    tenant: str
    report: RerouteReport
    assignments: list[Reassignment] | None = None
    assignment_columns: ReassignmentColumns | None = None


class ForecastPoint(Out):
    """One forecast step with its interval bounds (``yhat-lo-80`` etc. as ``intervals``)."""

    unique_id: str
    ds: str
    yhat: float | None
    intervals: dict[str, float | None]


class ForecastResponse(Out):
    """Latest batch forecast for the tenant."""

    tenant: str
    series: str
    model_version: str | None
    created_at: str | None
    points: list[ForecastPoint]


class ChurnScoreRequest(Strict):
    """Customer features in (names as in the churn model's signature)."""

    customer_id: str = Field(pattern=ID_PATTERN)
    features: dict[str, float] = Field(min_length=1, max_length=500)


class ChurnScoreResponse(Out):
    """Churn probability, RFM segment (when R and F scores are given) and strategy."""

    tenant: str
    customer_id: str
    churn_probability: float
    segment: str | None
    strategy: str
    coupon_amount: float
    coupon_valid_days: int
    model: ModelRef


class CustomerResponse(Out):
    """A customer's latest batch scoring row (probability, segment, strategy, CLV)."""

    tenant: str
    customer_id: str
    values: dict[str, float | int | str | bool | None]


class LoadedModel(Out):
    """A model slot in ``/readyz``."""

    tenant: str
    family: str
    name: str
    version: str | None
    fast_path: bool | None = None
    error: str | None = None


class Readiness(Out):
    """``/readyz``: loaded versions; ``degraded`` when a router is missing."""

    ready: bool
    degraded: bool
    models: list[LoadedModel]
    reloads: int


class ErrorItem(Out):
    """One problem with the request (``loc`` names the field)."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(Out):
    """Every 4xx body."""

    detail: str | list[ErrorItem]


class InventoryRecommendation(Out):
    """One SKU × warehouse row of the latest inventory report (``oms-ml report inventory``).

    ``details`` holds the report's other columns (forecast demand, EOQ, XYZ class, ...).
    """

    sku: str
    warehouse_id: str | None
    priority: int | None = Field(description="Purchase priority (1 = first); null if no "
                                             "reorder is due.")
    reorder_now: bool | None
    order_quantity: float | None
    reorder_point: float | None
    order_up_to: float | None
    safety_stock: float | None
    inventory_position: float | None
    days_of_cover: float | None
    stockout_probability: float | None
    method: str | None
    exception: str | None
    details: dict[str, float | int | str | bool | None]


class InventoryResponse(Out):
    """Recommendations of the tenant's latest inventory report."""

    tenant: str
    sku: str | None = Field(description="The SKU asked for; null for the list.")
    report_at: str | None = Field(description="When the report file was written (UTC).")
    total: int = Field(description="Rows matching the query before ``limit``.")
    recommendations: list[InventoryRecommendation]
