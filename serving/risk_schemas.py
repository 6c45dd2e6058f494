"""Request and response schemas of the risk routes (triage, refunds, ETA); see ``schemas``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field

from oms.contract import WEATHER
from serving.schemas import ID_PATTERN, ModelRef, Out, Strict, WarehouseId


def _plausible_time(v: dt.datetime | None) -> dt.datetime | None:
    """A timestamp between 2000 and 2100 (anything else is a typo, and pandas cannot hold it)."""
    if v is not None and not 2000 <= v.year <= 2100:
        raise ValueError("timestamp must be between the years 2000 and 2100")
    return v


Timestamp = Annotated[AwareDatetime, AfterValidator(_plausible_time)]


class TriageRequest(Strict):
    """A customer's support message (Chinese or English)."""

    message: str = Field(min_length=1, max_length=10_000,
                         description="The message text (1 to 10,000 characters).")


class TriageResponse(Out):
    """Intent, the order id found in the message and who handles it."""

    tenant: str
    intent: str | None = Field(description="track_order, apply_refund, product_inquiry or "
                                           "complaint; null when not classified.")
    confidence: float
    order_id: str | None = Field(description="First order id in the message (canonical).")
    route: Literal["auto", "human"] = Field(description="human: a person answers "
                                                        "(complaints always).")
    reason: str
    model: ModelRef


class RefundRequest(Strict):
    """A refund request for a delivered order of the tenant."""

    order_id: str = Field(pattern=ID_PATTERN)
    request_id: str | None = Field(None, pattern=ID_PATTERN)
    reason: Literal["QUALITY_ISSUE", "DAMAGED", "WRONG_ITEM", "NOT_RECEIVED", "CHANGED_MIND",
                    "NOT_AS_DESCRIBED"]
    amount: float = Field(gt=0, le=10_000_000, description="Refund amount asked (> 0).")
    has_evidence: bool = False
    days_since_delivery: float | None = Field(
        None, ge=0, le=3_650, description="Default: from the order's delivery time.")
    request_ts: Timestamp | None = Field(None, description="Default: now.")


class RefundResponse(Out):
    """Approve automatically or send to a person, always with the reason."""

    tenant: str
    request_id: str
    order_id: str
    decision: Literal["auto_approve", "human_review"]
    reason: str
    p_abuse: float | None = Field(description="Calibrated abuse probability (model).")
    expected_loss: float | None
    rule_decision: Literal["auto_approve", "human_review"] = Field(
        description="The design's rule (credit >= 60, amount <= 500, evidence) for comparison.")
    rule_reason: str
    degraded: bool = Field(description="True when no refund champion is loaded: the "
                                       "design's rule decided.")
    model: ModelRef | None


class EtaRequest(Strict):
    """An order and the warehouses that could ship it."""

    order_id: str = Field(pattern=ID_PATTERN)
    region: str = Field(pattern=ID_PATTERN)
    customer_lat: float = Field(ge=-90, le=90)
    customer_lon: float = Field(ge=-180, le=180)
    warehouse_ids: list[WarehouseId] = Field(min_length=1, max_length=200)
    order_ts: Timestamp | None = Field(None, description="Default: now.")
    booked_orders: dict[WarehouseId, Annotated[int, Field(ge=0, le=10_000_000)]] = Field(
        default_factory=dict,
        description="Orders booked for the day per warehouse (absent: 0); the load feature is "
                    "booked / daily capacity, as the model was trained.")
    weather: Literal[WEATHER] = "sunny"  # type: ignore[valid-type]
    is_holiday: bool = False
    promotion_intensity: float = Field(0.0, ge=0, le=1)


class EtaOption(Out):
    """Delivery-hour quantiles from one warehouse."""

    warehouse_id: str
    p50_hours: float | None
    p90_hours: float | None
    problem: str | None


class EtaResponse(Out):
    """p50 / p90 delivery hours per candidate warehouse."""

    tenant: str
    order_id: str
    options: list[EtaOption]
    model: ModelRef
