"""The order data contract: one declarative spec per table.

The spec is the single source of truth. From it we derive the pandera schemas used at every
job boundary, the arrow schemas used when writing parquet, and the markdown reference in
``docs/contract.md`` (``oms-ml contract docs``).

Conventions:
    * every table carries ``tenant_id``;
    * timestamps are UTC (``datetime64[ns, UTC]``), calendar dates are tz-naive midnight
      (``datetime64[ns]``) in the tenant's business time zone; a timestamp *string* is parsed
      value by value: one with an offset (``+08:00``, ``Z``) is converted to UTC, one without
      (naive) **is UTC** (:data:`NAIVE_TIMESTAMPS`);
    * ingest upserts by primary key (:data:`UPSERT_RULE`), never drops history unless asked;
    * fact tables are hive-partitioned by the month of their date column (``month=YYYY-MM``),
      which keeps file counts sane for multi-year data while still pruning by date.

This module is over 400 lines: it holds the spec of every contract table in one place
(the single source of truth); splitting the tables over files would scatter the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow

CHANNELS = ("app", "mini_program", "tmall", "jd", "douyin", "pos", "web")
ORDER_STATUSES = ("created", "paid", "shipped", "delivered", "cancelled", "returned")
EVENT_TYPES = (
    "OrderCreated",
    "PaymentConfirmed",
    "WarehouseAssigned",
    "Shipped",
    "Delivered",
    "Cancelled",
    "Returned",
)
CUSTOMER_TIERS = ("bronze", "silver", "gold", "platinum")
WEATHER = ("sunny", "cloudy", "rain", "snow", "storm")
PARTITION_COLUMN = "month"

NAIVE_TIMESTAMPS = (
    "A timestamp string without an offset is UTC; one with an offset (`+08:00`, `Z`) is "
    "converted to UTC. Each value is parsed on its own, so a column may mix both."
)
UPSERT_RULE = (
    "Ingest adds rows to the lake and upserts by primary key: a landed row whose key is "
    "already in the lake replaces it, unless the table has a version column and the lake's "
    "row is at a later version (then the lake's row stays and the landed one is counted as "
    "stale). `orders` are versioned by `status`, which only moves forward "
    "(created < paid < shipped < delivered < cancelled < returned), so re-ingesting an old "
    "export never rolls an order back. Within one landing a repeated key is quarantined "
    "(the first valid row wins). Partitioned tables are upserted within the month "
    "partitions of the landed rows. History is dropped only with `oms-ml ingest --replace`, "
    "which is refused when a table's landing is empty; an empty or 0-byte landing file "
    "never empties a table."
)
CROSS_FIELD_RULES = (
    "`order_date` (and `event_date`) later than today + `OMS_ML_FUTURE_DAYS` (default 1) "
    "days; `orders`: a guest order (`is_guest`) with a `customer_id`; `order_date` that is "
    "not the calendar day of `order_ts` at any UTC offset from -12:00 to +14:00 (the "
    "tenant's zone is not recorded per row, so this is the tightest check valid for every "
    "tenant); `order_lines`: `line_amount` differing from `quantity × unit_price` by more "
    "than 0.01 + 1e-6 × the amount, and a line whose order (`tenant_id`, `order_id`) is "
    "neither in the same landing nor in the lake's `orders` for the line's month."
)

# logical type -> (pandas dtype, arrow type)
_TYPES: dict[str, tuple[str, pa_arrow.DataType]] = {
    "string": ("string", pa_arrow.string()),
    "int64": ("Int64", pa_arrow.int64()),
    "float64": ("float64", pa_arrow.float64()),
    "bool": ("boolean", pa_arrow.bool_()),
    "timestamp": ("datetime64[ns, UTC]", pa_arrow.timestamp("us", tz="UTC")),
    "date": ("datetime64[ns]", pa_arrow.timestamp("us")),
}


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a contract table.

    Attributes:
        name: Column name.
        type: Logical type: string, int64, float64, bool, timestamp or date.
        description: What the column means, for the generated reference.
        nullable: Whether nulls are allowed.
        isin: Allowed values, if the column is categorical.
        ge: Inclusive lower bound for numbers.
        le: Inclusive upper bound for numbers.
        gt: Exclusive lower bound for numbers.
        not_future: For timestamps/dates: values after "now" are rejected.
    """

    name: str
    type: str
    description: str
    nullable: bool = False
    isin: tuple[str, ...] | None = None
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    not_future: bool = False

    @property
    def pandas_dtype(self) -> str:
        """The pandas dtype of the column after conforming."""
        return _TYPES[self.type][0]

    @property
    def arrow_type(self) -> pa_arrow.DataType:
        """The arrow type used when writing parquet."""
        return _TYPES[self.type][1]

    def rules(self) -> list[str]:
        """Human-readable rules for the reference docs."""
        out = [] if self.nullable else ["not null"]
        if self.isin:
            out.append("one of " + ", ".join(f"`{v}`" for v in self.isin))
        if self.gt is not None:
            out.append(f"> {self.gt:g}")
        if self.ge is not None:
            out.append(f">= {self.ge:g}")
        if self.le is not None:
            out.append(f"<= {self.le:g}")
        if self.not_future:
            out.append("not in the future" if self.type == "timestamp"
                       else "not after today + `OMS_ML_FUTURE_DAYS` (1) days")
        return out


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract.

    Attributes:
        name: Table name (also its folder in the lake).
        description: What one row is.
        columns: Column specs, in order.
        primary_key: Columns that identify a row; duplicates are quarantined.
        partition_date: Date column whose month partitions the table, if any.
        version_column: Column whose value orders two versions of a row on upsert (later
            wins), if any; without one, the newer landing wins.
        version_rank: Values of ``version_column`` from earliest to latest, when it is a
            categorical (e.g. a status); otherwise the column's own order is used.
    """

    name: str
    description: str
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...]
    partition_date: str | None = None
    version_column: str | None = None
    version_rank: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        """Column names in contract order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        """Return the spec of one column."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    def arrow_schema(self) -> pa_arrow.Schema:
        """Arrow schema of the table as written to parquet (without the partition column)."""
        return pa_arrow.schema(
            [pa_arrow.field(c.name, c.arrow_type, nullable=c.nullable) for c in self.columns]
        )

    def pandera_schema(self) -> pa.DataFrameSchema:
        """Pandera schema checking types, nulls, domains and ranges row by row."""
        cols = {}
        for c in self.columns:
            checks = []
            if c.isin:
                checks.append(pa.Check.isin(list(c.isin), error=f"{c.name} not in allowed values"))
            if c.ge is not None:
                checks.append(pa.Check.ge(c.ge, error=f"{c.name} < {c.ge:g}"))
            if c.gt is not None:
                checks.append(pa.Check.gt(c.gt, error=f"{c.name} <= {c.gt:g}"))
            if c.le is not None:
                checks.append(pa.Check.le(c.le, error=f"{c.name} > {c.le:g}"))
            cols[c.name] = pa.Column(c.pandas_dtype, checks=checks, nullable=c.nullable)
        return pa.DataFrameSchema(cols, strict=False, ordered=False, name=self.name)


def _c(name: str, type_: str, description: str, **kw: Any) -> ColumnSpec:
    return ColumnSpec(name=name, type=type_, description=description, **kw)


TENANT = _c("tenant_id", "string", "Tenant (merchant) owning the row.")

ORDERS = TableSpec(
    name="orders",
    description="One row per customer order (header).",
    primary_key=("tenant_id", "order_id"),
    partition_date="order_date",
    version_column="status",
    version_rank=ORDER_STATUSES,
    columns=(
        TENANT,
        _c("order_id", "string", "Order id, unique per tenant."),
        _c("customer_id", "string", "Customer id; null for guest checkouts.", nullable=True),
        _c("is_guest", "bool", "True when the order has no known customer."),
        _c("order_ts", "timestamp", "When the order was placed (UTC).", not_future=True),
        _c("order_date", "date", "Business day of the order in the tenant's time zone.",
           not_future=True),
        _c("channel", "string", "Sales channel; null when the source does not say.",
           nullable=True, isin=CHANNELS),
        _c("region", "string", "Delivery region."),
        _c("warehouse_id", "string", "Warehouse that fulfilled the order.", nullable=True),
        _c("status", "string", "Latest order status.", isin=ORDER_STATUSES),
        _c("total_amount", "float64", "Order value in `currency` (product lines).", ge=0),
        _c("currency", "string", "ISO currency code."),
        _c("n_lines", "int64", "Number of order lines.", ge=0),
        _c("promised_hours", "float64", "Promised delivery time in hours.", nullable=True, ge=0),
        _c("delivery_hours", "float64", "Actual delivery time in hours.", nullable=True, ge=0),
        _c("is_late", "bool", "Delivered after the promise.", nullable=True),
        _c("support_contacts", "int64", "Customer-service contacts about this order; null "
           "when unknown (imports).", nullable=True, ge=0),
    ),
)

ORDER_LINES = TableSpec(
    name="order_lines",
    description="One row per order line (SKU × quantity).",
    primary_key=("tenant_id", "order_id", "line_no"),
    partition_date="order_date",
    columns=(
        TENANT,
        _c("order_id", "string", "Order the line belongs to."),
        _c("line_no", "int64", "Line number within the order, from 1.", ge=1),
        _c("sku", "string", "Stock-keeping unit."),
        _c("quantity", "int64", "Units ordered; null when the source has no quantity.",
           nullable=True, gt=0),
        _c("unit_price", "float64", "Price per unit; null when the quantity is unknown.",
           nullable=True, ge=0),
        _c("line_amount", "float64", "quantity × unit_price.", ge=0),
        _c("is_product", "bool", "False for non-product codes (postage, fees, manual lines)."),
        _c("order_date", "date", "Business day of the order.", not_future=True),
    ),
)

CUSTOMERS = TableSpec(
    name="customers",
    description="One row per known customer.",
    primary_key=("tenant_id", "customer_id"),
    columns=(
        TENANT,
        _c("customer_id", "string", "Customer id, unique per tenant."),
        _c("signup_date", "date", "Day the customer registered or first ordered."),
        _c("region", "string", "Home region."),
        _c("country", "string", "Country."),
        _c("tier", "string", "Loyalty tier.", isin=CUSTOMER_TIERS),
        _c("lat", "float64", "Latitude of the delivery address.", nullable=True, ge=-90, le=90),
        _c("lon", "float64", "Longitude of the delivery address.", nullable=True, ge=-180, le=180),
    ),
)

PRODUCTS = TableSpec(
    name="products",
    description="One row per SKU (including non-product codes).",
    primary_key=("tenant_id", "sku"),
    columns=(
        TENANT,
        _c("sku", "string", "Stock-keeping unit."),
        _c("name", "string", "Product name.", nullable=True),
        _c("category", "string", "Product category."),
        _c("unit_price", "float64", "List price.", ge=0),
        _c("unit_cost", "float64", "Unit cost, if known.", nullable=True, ge=0),
        _c("is_product", "bool", "False for postage, fees and manual adjustment codes."),
    ),
)

WAREHOUSES = TableSpec(
    name="warehouses",
    description="One row per fulfilment warehouse.",
    primary_key=("tenant_id", "warehouse_id"),
    columns=(
        TENANT,
        _c("warehouse_id", "string", "Warehouse id."),
        _c("name", "string", "Warehouse name."),
        _c("region", "string", "Region the warehouse is in."),
        _c("lat", "float64", "Latitude.", ge=-90, le=90),
        _c("lon", "float64", "Longitude.", ge=-180, le=180),
        _c("capacity_per_day", "int64", "Orders the warehouse can ship per day.", gt=0),
        _c("cost_per_order", "float64", "Handling cost per order.", ge=0),
        _c("lead_time_days", "int64", "Replenishment lead time from supplier to this warehouse, "
           "in days; null when unknown (imports).", nullable=True, ge=0),
    ),
)

INVENTORY = TableSpec(
    name="inventory",
    description="Stock on hand per warehouse × SKU at a snapshot date.",
    primary_key=("tenant_id", "warehouse_id", "sku", "snapshot_date"),
    partition_date="snapshot_date",
    columns=(
        TENANT,
        _c("warehouse_id", "string", "Warehouse id."),
        _c("sku", "string", "Stock-keeping unit."),
        _c("snapshot_date", "date", "Day of the stock count."),
        _c("on_hand", "int64", "Units on hand.", ge=0),
    ),
)

ORDER_EVENTS = TableSpec(
    name="order_events",
    description="Order life-cycle events (event-sourced history of each order).",
    primary_key=("tenant_id", "event_id"),
    partition_date="event_date",
    columns=(
        TENANT,
        _c("event_id", "string", "Event id."),
        _c("order_id", "string", "Order the event belongs to."),
        _c("event_type", "string", "What happened.", isin=EVENT_TYPES),
        _c("event_ts", "timestamp", "When it happened (UTC).", not_future=True),
        _c("event_date", "date", "Business day of the event.", not_future=True),
        _c("warehouse_id", "string", "Warehouse involved, if any.", nullable=True),
        _c("sku", "string", "SKU for line-level events (returns), if any.", nullable=True),
        _c("quantity", "int64", "Units for line-level events, if any.", nullable=True, ge=0),
        _c("amount", "float64", "Money involved (refund, payment), if any.", nullable=True),
    ),
)

DAILY_CONTEXT = TableSpec(
    name="daily_context",
    description="Calendar, promotion and weather context per day and region.",
    primary_key=("tenant_id", "date", "region"),
    partition_date="date",
    columns=(
        TENANT,
        _c("date", "date", "Calendar day."),
        _c("region", "string", "Region."),
        _c("is_holiday", "bool", "Public holiday or e-commerce festival."),
        _c("holiday_name", "string", "Name of the holiday, if any.", nullable=True),
        _c("promotion_name", "string", "Running promotion, if any.", nullable=True),
        _c("promotion_intensity", "float64", "Promotion strength 0..1.", ge=0, le=1),
        _c("weather", "string", "Weather of the day; null when unknown (imports).",
           nullable=True, isin=WEATHER),
        _c("temperature_c", "float64", "Mean temperature in °C; null when unknown (imports).",
           nullable=True, ge=-60, le=60),
    ),
)

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        ORDERS,
        ORDER_LINES,
        CUSTOMERS,
        PRODUCTS,
        WAREHOUSES,
        INVENTORY,
        ORDER_EVENTS,
        DAILY_CONTEXT,
    )
}


def get_table(name: str) -> TableSpec:
    """Return the spec of a contract table, with a clear error for unknown names."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; the contract has {sorted(TABLES)}") from None


def empty_frame(name: str) -> pd.DataFrame:
    """An empty DataFrame with the table's columns and dtypes."""
    spec = get_table(name)
    return pd.DataFrame({c.name: pd.Series(dtype=c.pandas_dtype) for c in spec.columns})


def contract_markdown() -> str:
    """Render the contract as a markdown reference (``docs/contract.md``)."""
    lines = [
        "# Order data contract",
        "",
        "Generated by `oms-ml contract docs` from `oms/contract.py`; do not edit by hand.",
        "",
        "Timestamps are UTC; dates are business days in the tenant's time zone. Fact tables are",
        f"hive-partitioned by the month of their date column (`{PARTITION_COLUMN}=YYYY-MM`).",
        "Rows that break these rules are quarantined with a reason, never dropped.",
        "",
        f"**Timestamps.** {NAIVE_TIMESTAMPS}",
        "",
        f"**Upsert.** {UPSERT_RULE}",
        "",
        f"**Cross-field rules** (quarantined with a reason): {CROSS_FIELD_RULES}",
        "",
        "**Publishing.** The lake is versioned: an ingest run publishes all its tables as one "
        "version (a snapshot folder and one pointer file `_current` replaced atomically, under "
        "a lock `_lock`); readers resolve the pointer. See `oms/versions.py`.",
        "",
    ]
    for t in TABLES.values():
        lines += [f"## `{t.name}`", "", t.description, ""]
        lines.append(f"Primary key: {', '.join(f'`{k}`' for k in t.primary_key)}.")
        if t.partition_date:
            lines.append(f"Partitioned by the month of `{t.partition_date}`.")
        if t.version_column:
            order = " < ".join(t.version_rank) if t.version_rank else "its own order"
            lines.append(f"Upsert version: `{t.version_column}` ({order}).")
        lines += ["", "| column | type | rules | description |", "|---|---|---|---|"]
        for c in t.columns:
            lines.append(f"| `{c.name}` | {c.type} | {'; '.join(c.rules())} | {c.description} |")
        lines.append("")
    return "\n".join(lines)
