"""Demand features: daily order volume per tenant and the SKU × day demand panel (pandas).

Both frames are in the Nixtla long format (``unique_id, ds, y`` + exogenous columns), one
row per series and calendar day, gap days filled with 0. The Spark twin lives in
:mod:`features.spark_demand` and gives the same result (``tests/test_features_parity.py``).

Choices worth knowing:
    * ``y`` counts orders *placed* (cancelled and returned orders included): demand is what
      customers asked for, and an order's status is only known later, so filtering on it would
      leak the future into the history.
    * Days are integers internally (days since 1970-01-01) and keys are integer codes, so
      20M order lines group in seconds and little memory.
    * Context (``daily_context``) is per tenant × day × region; the tenant-level value is:
      holiday = any region, promotion = max intensity (any named promotion), temperature =
      mean over regions, weather = most common (ties go to the more severe weather, i.e.
      later in :data:`oms.contract.WEATHER`). Days without context get no holiday, no
      promotion, NaN temperature and all-zero weather columns.
    * The forecasters also use *region-averaged* context (:func:`regional_context`) and named
      holidays (:func:`holiday_frame`); they live here with the other context features.

Length: over 400 lines because the two panels and the context features they share are one
topic (the SKU panel also in its chunked form: :func:`daily_sku_units` per chunk,
:func:`concat_units`, :func:`sku_panel_from_units`); the Spark twins mirror this module
function by function.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.keys import dense_codes
from oms.contract import WEATHER

CALENDAR_COLUMNS = ("day_of_week", "day_of_month", "month", "is_weekend")
WEATHER_COLUMNS = tuple(f"weather_{w}" for w in WEATHER)
CONTEXT_COLUMNS = (
    "is_holiday",
    "has_promotion",
    "promotion_intensity",
    "temperature_c",
    *WEATHER_COLUMNS,
)
EXOGENOUS_COLUMNS = CALENDAR_COLUMNS + CONTEXT_COLUMNS
#: Weather kinds whose regional share is a feature (the severe end of ``WEATHER``).
SHARE_WEATHER = WEATHER[WEATHER.index("rain"):]
#: Region-averaged context columns (see :func:`regional_context`).
REGIONAL = ("promotion_mean", *(f"{w}_share" for w in SHARE_WEATHER))
LAG_COLUMNS = ("orders_last_7d", "orders_last_30d", "y_same_day_last_year")
SAME_DAY_LAST_YEAR = 364  # 52 weeks: the same weekday one year earlier
_CONTEXT_NEEDS = ("tenant_id", "date", "is_holiday", "promotion_name", "promotion_intensity",
                  "weather", "temperature_c")


def require_columns(df: pd.DataFrame, columns: tuple[str, ...] | list[str], name: str) -> None:
    """Raise a clear ``ValueError`` when ``df`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing required column(s) {missing}; has {list(df.columns)}")


def day_numbers(values: pd.Series | pd.Index, name: str = "date") -> np.ndarray:
    """Days since 1970-01-01 (int64) of a tz-naive date column; a clear error otherwise."""
    s = pd.Series(values)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        raise ValueError(f"{name} must be a tz-naive calendar date, got {s.dtype}")
    if s.isna().any():
        raise ValueError(f"{name} has {int(s.isna().sum())} null value(s)")
    if not pd.api.types.is_datetime64_dtype(s.dtype):
        s = pd.to_datetime(s)
    ns = s.to_numpy(dtype="datetime64[ns]").view(np.int64)
    return ns // 86_400_000_000_000  # floor division: also right before 1970


def _days_to_ds(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[ns]")


def calendar_columns(days: np.ndarray) -> dict[str, np.ndarray]:
    """Calendar features of day numbers: weekday (Mon=0), day of month, month, weekend flag."""
    d = days.astype("datetime64[D]")
    m = d.astype("datetime64[M]")
    dow = ((days + 3) % 7).astype(np.int8)  # 1970-01-01 was a Thursday
    return {
        "day_of_week": dow,
        "day_of_month": ((d - m.astype("datetime64[D]")).astype(np.int64) + 1).astype(np.int8),
        "month": (m.astype(np.int64) % 12 + 1).astype(np.int8),
        "is_weekend": (dow >= 5).astype(np.int8),
    }


def aggregate_context(daily_context: pd.DataFrame) -> pd.DataFrame:
    """Collapse per-region context to one row per tenant × day (see the module docstring).

    Returns:
        ``tenant_id, day`` (int day number) + :data:`CONTEXT_COLUMNS`.
    """
    require_columns(daily_context, _CONTEXT_NEEDS, "daily_context")
    ctx = pd.DataFrame({
        "tenant_id": daily_context["tenant_id"].astype(object).to_numpy(),
        "day": day_numbers(daily_context["date"], "daily_context.date"),
        "is_holiday": daily_context["is_holiday"].fillna(False).astype(bool).to_numpy(),
        "promo": (daily_context["promotion_name"].notna()
                  | (daily_context["promotion_intensity"].fillna(0) > 0)).to_numpy(),
        "promotion_intensity": daily_context["promotion_intensity"].fillna(0.0).to_numpy(float),
        "temperature_c": daily_context["temperature_c"].to_numpy(float),
        "weather": daily_context["weather"].astype(object).to_numpy(),
    })
    keys = ["tenant_id", "day"]
    agg = ctx.groupby(keys, sort=True).agg(
        is_holiday=("is_holiday", "max"),
        has_promotion=("promo", "max"),
        promotion_intensity=("promotion_intensity", "max"),
        temperature_c=("temperature_c", "mean"),
    )
    severity = {w: i for i, w in enumerate(WEATHER)}
    counts = ctx.groupby(keys + ["weather"], sort=False).size().rename("n").reset_index()
    counts["severity"] = counts["weather"].map(severity).fillna(-1)
    counts = counts.sort_values(keys + ["n", "severity"], ascending=[True, True, False, False])
    mode = counts.drop_duplicates(keys).set_index(keys)["weather"]
    out = agg.join(mode).reset_index()
    for w, col in zip(WEATHER, WEATHER_COLUMNS, strict=True):
        out[col] = (out["weather"] == w).astype(np.int8)
    out["is_holiday"] = out["is_holiday"].astype(np.int8)
    out["has_promotion"] = out["has_promotion"].astype(np.int8)
    return out[["tenant_id", "day", *CONTEXT_COLUMNS]]


def _empty_context(n: int) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {
        "is_holiday": np.zeros(n, np.int8),
        "has_promotion": np.zeros(n, np.int8),
        "promotion_intensity": np.zeros(n, float),
        "temperature_c": np.full(n, np.nan),
    }
    cols.update({c: np.zeros(n, np.int8) for c in WEATHER_COLUMNS})
    return cols


def exogenous_columns(
    tenant_codes: np.ndarray,
    tenant_values: np.ndarray,
    days: np.ndarray,
    context: pd.DataFrame | None,
) -> dict[str, np.ndarray]:
    """Calendar + context columns for rows given as tenant codes and day numbers.

    Values are computed once per tenant × day of the covered range and gathered by integer
    index, so a panel of millions of rows costs a few array copies, no hashing.

    Args:
        tenant_codes: Index into ``tenant_values`` per row (int).
        tenant_values: Tenant ids.
        days: Day number per row (int64).
        context: Output of :func:`aggregate_context`, or None.
    """
    if len(days) == 0:
        return calendar_columns(days) | _empty_context(0)
    lo, hi = int(days.min()), int(days.max())
    span = hi - lo + 1
    offset = days - lo
    cols = {k: v[offset] for k, v in calendar_columns(np.arange(lo, hi + 1)).items()}
    empty = _empty_context(len(tenant_values) * span)
    if context is not None and not context.empty:
        grid = pd.DataFrame({"tenant_id": np.repeat(np.asarray(tenant_values, dtype=object), span),
                             "day": np.tile(np.arange(lo, hi + 1), len(tenant_values))})
        looked = grid.merge(context, on=["tenant_id", "day"], how="left")
        hit = looked["promotion_intensity"].notna().to_numpy()
        for col, fill in empty.items():
            fill[hit] = looked[col].to_numpy()[hit]
    index = tenant_codes.astype(np.int64) * span + offset
    return cols | {col: values[index] for col, values in empty.items()}


def context_for_dates(
    daily_context: pd.DataFrame | None, dates: pd.DataFrame
) -> pd.DataFrame:
    """Calendar and context columns for given days — also future ones, for forecasting.

    Args:
        daily_context: Contract ``daily_context`` rows (per tenant × date × region) or None.
        dates: Frame with ``ds`` (tz-naive days) and ``tenant_id`` — or ``unique_id`` as in
            the daily-volume frame, where ``unique_id`` is the tenant.

    Returns:
        ``dates`` plus :data:`EXOGENOUS_COLUMNS`, in the same row order.
    """
    tenant_col = "tenant_id" if "tenant_id" in dates.columns else "unique_id"
    require_columns(dates, [tenant_col, "ds"], "dates")
    context = aggregate_context(daily_context) if daily_context is not None else None
    codes, tenants = dense_codes(dates[tenant_col], f"dates.{tenant_col}")
    cols = exogenous_columns(codes, tenants, day_numbers(dates["ds"], "ds"), context)
    out = dates.copy()
    for name, values in cols.items():
        out[name] = values
    return out


def _segments(first: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Lengths and start offsets of zero-filled segments running from ``first`` to ``end``."""
    lengths = (end - first + 1).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return lengths, starts


def _grid(first: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Series code, day number and segment start of every row of a zero-filled panel."""
    lengths, starts = _segments(first, end)
    series = np.repeat(np.arange(len(first)), lengths)
    seg_start = np.repeat(starts, lengths)
    days = first[series] + (np.arange(lengths.sum()) - seg_start)
    return series, days, seg_start


def _window_sums(y: np.ndarray, seg_start: np.ndarray, window: int) -> np.ndarray:
    """Sum of ``y`` over the ``window`` rows strictly before each row, within its segment."""
    prefix = np.concatenate([[0], np.cumsum(y)])
    idx = np.arange(len(y))
    lo = np.maximum(seg_start, idx - window)
    return prefix[idx] - prefix[lo]


def _volume_columns() -> list[str]:
    return ["unique_id", "ds", "y", "revenue", *EXOGENOUS_COLUMNS, *LAG_COLUMNS]


def _positions(codes: np.ndarray, day: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Panel row of each record, and each series' first day.

    The panel holds ``n`` series zero-filled from their first day to the last day; this is
    written with few temporaries because inputs have 20M rows.
    """
    if n == 1:  # one series (one tenant): no gathers
        first = np.array([day.min()])
        return day - first[0], first
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, codes, day)
    _, starts = _segments(first, int(day.max()))
    pos = day - first[codes]
    pos += starts[codes]
    return pos, first


def daily_order_volume(
    orders: pd.DataFrame, daily_context: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per tenant × day: orders placed, revenue, calendar/context and lag columns.

    Each tenant's series runs from its first order day to the last day in ``orders``, gap
    days filled with 0. ``orders_last_7d``/``orders_last_30d`` sum ``y`` over the days
    strictly before ``ds`` (no leakage; days before the first order count as 0).
    ``y_same_day_last_year`` is ``y`` 364 days earlier (same weekday), NaN before the series.

    Args:
        orders: Contract ``orders`` (needs ``tenant_id, order_date``; ``total_amount``
            for revenue, which is summed in integer cents).
        daily_context: Contract ``daily_context`` or None.

    Returns:
        ``unique_id`` (= tenant_id), ``ds``, ``y``, ``revenue`` + :data:`EXOGENOUS_COLUMNS`
        + :data:`LAG_COLUMNS`, sorted by ``unique_id, ds``.
    """
    require_columns(orders, ["tenant_id", "order_date"], "orders")
    if orders.empty:
        return _empty_volume()
    t_codes, tenants = dense_codes(orders["tenant_id"], "orders.tenant_id")
    order_ = np.argsort(tenants.astype(str), kind="stable")  # series sorted by tenant id
    t_codes = np.argsort(order_)[t_codes]
    tenants = tenants[order_]
    day = day_numbers(orders["order_date"], "orders.order_date")
    pos, first = _positions(t_codes, day, len(tenants))
    series, days, seg_start = _grid(first, int(day.max()))
    del day
    y = np.bincount(pos, minlength=len(days)).astype(np.int64)
    if "total_amount" in orders.columns:
        cents = orders["total_amount"].to_numpy(float) * 100.0
        np.rint(cents, out=cents)
        revenue = np.bincount(pos, weights=cents, minlength=len(days)) / 100.0
    else:
        revenue = np.full(len(days), np.nan)
    context = aggregate_context(daily_context) if daily_context is not None else None
    out = {"unique_id": tenants[series], "ds": _days_to_ds(days), "y": y, "revenue": revenue}
    out |= exogenous_columns(series, tenants, days, context)
    out["orders_last_7d"] = _window_sums(y, seg_start, 7)
    out["orders_last_30d"] = _window_sums(y, seg_start, 30)
    back = np.arange(len(y)) - SAME_DAY_LAST_YEAR
    ok = back >= seg_start
    out["y_same_day_last_year"] = np.where(ok, y[np.where(ok, back, 0)], np.nan)
    return pd.DataFrame(out)[_volume_columns()]


def _empty_volume() -> pd.DataFrame:
    cols = {"unique_id": np.array([], dtype=object), "ds": np.array([], "datetime64[ns]"),
            "y": np.array([], np.int64), "revenue": np.array([], float)}
    cols |= calendar_columns(np.array([], np.int64)) | _empty_context(0)
    cols |= {"orders_last_7d": np.array([], np.int64), "orders_last_30d": np.array([], np.int64),
             "y_same_day_last_year": np.array([], float)}
    return pd.DataFrame(cols)[_volume_columns()]


def _select_skus(
    units: np.ndarray, first: np.ndarray, end: int, labels: np.ndarray,
    top_n: int | None, min_days: int,
) -> np.ndarray:
    """Indices of the series to keep, sorted by label (tenant, sku)."""
    label_rank = np.empty(len(labels), np.int64)
    label_rank[np.argsort(labels, kind="stable")] = np.arange(len(labels))
    keep = np.flatnonzero(end - first + 1 >= min_days)
    if top_n is not None:
        if top_n < 1:
            raise ValueError(f"top_n must be >= 1 or None, got {top_n}")
        # most units first; ties by (tenant, sku) so both engines pick the same SKUs
        rank = np.lexsort((label_rank[keep], -units[keep]))
        keep = keep[rank[:top_n]]
    return keep[np.argsort(label_rank[keep], kind="stable")]


def sku_demand_panel(
    order_lines: pd.DataFrame,
    daily_context: pd.DataFrame | None = None,
    top_n: int | None = None,
    min_days: int = 0,
) -> pd.DataFrame:
    """SKU × day units of product lines, zero-filled from each SKU's first sale.

    Only lines with ``is_product`` True count (postage, fees and manual codes are not
    demand). Each SKU's series runs from its first sale to the last day in ``order_lines``.
    Equal to :func:`sku_panel_from_units` of :func:`daily_sku_units` — the form a caller
    uses to aggregate a big table chunk by chunk.

    Args:
        order_lines: Contract ``order_lines`` (``tenant_id, sku, quantity, is_product,
            order_date``).
        daily_context: Contract ``daily_context`` or None.
        top_n: Keep only the N SKUs with most units (ties broken by tenant, then sku).
        min_days: Keep only SKUs whose zero-filled history has at least this many days
            (applied before ``top_n``).

    Returns:
        ``unique_id`` (= sku), ``ds``, ``y`` (units), ``tenant_id`` + :data:`EXOGENOUS_COLUMNS`,
        sorted by ``tenant_id, unique_id, ds``. The key is ``(tenant_id, unique_id)``.
    """
    units, end = daily_sku_units(order_lines)
    return sku_panel_from_units(units, end, daily_context, top_n, min_days)


def daily_sku_units(order_lines: pd.DataFrame) -> tuple[pd.DataFrame, int | None]:
    """Units of product lines per tenant, SKU and day, and the last day of any line.

    Args:
        order_lines: Contract ``order_lines`` (or one chunk of them).

    Returns:
        ``tenant_id, sku`` (categoricals), ``day`` (day number) and ``units`` (int64), one
        row per tenant × SKU × day with a product line (units may be 0), and the last day of
        any line (None without lines).
    """
    require_columns(order_lines, ["tenant_id", "sku", "quantity", "is_product", "order_date"],
                    "order_lines")
    if order_lines.empty:
        return _empty_units(), None
    all_days = day_numbers(order_lines["order_date"], "order_lines.order_date")
    end = int(all_days.max())
    product = order_lines["is_product"].fillna(False).to_numpy(bool)
    if not product.any():
        return _empty_units(), end
    day = all_days[product]
    del all_days
    lo = int(day.min())
    span = int(day.max()) - lo + 1
    qty = order_lines["quantity"].to_numpy(np.int64)[product]
    key, pair_t, pair_sc, tenants, skus = _sku_keys(order_lines, product)
    cell, cells = pd.factorize(key * span + (day - lo))
    del key, day
    units = np.bincount(cell, weights=qty, minlength=len(cells)).astype(np.int64)
    series, offset = np.divmod(np.asarray(cells, np.int64), span)
    return pd.DataFrame({
        "tenant_id": pd.Categorical.from_codes(pair_t[series], pd.Index(tenants)),
        "sku": pd.Categorical.from_codes(pair_sc[series], pd.Index(skus)),
        "day": offset + lo, "units": units}), end


def concat_units(parts: list[tuple[pd.DataFrame, int | None]]) -> tuple[pd.DataFrame, int | None]:
    """Combine :func:`daily_sku_units` results of chunks (categories unified, no re-hashing)."""
    from pandas.api.types import union_categoricals

    frames = [f for f, _ in parts if not f.empty]
    ends = [e for _, e in parts if e is not None]
    end = max(ends) if ends else None
    if not frames:
        return _empty_units(), end
    cols = {c: union_categoricals([f[c] for f in frames]) for c in ("tenant_id", "sku")}
    cols |= {c: np.concatenate([f[c].to_numpy() for f in frames]) for c in ("day", "units")}
    return pd.DataFrame(cols), end


def sku_panel_from_units(
    units: pd.DataFrame,
    end: int | None,
    daily_context: pd.DataFrame | None = None,
    top_n: int | None = None,
    min_days: int = 0,
) -> pd.DataFrame:
    """The SKU × day panel of :func:`sku_demand_panel` from (combined) daily SKU units.

    Args:
        units: :func:`daily_sku_units` output (or :func:`concat_units` of chunks).
        end: Last day of any order line (day number); the panel runs to it.
        daily_context: Contract ``daily_context`` or None.
        top_n: See :func:`sku_demand_panel`.
        min_days: See :func:`sku_demand_panel`.
    """
    require_columns(units, ["tenant_id", "sku", "day", "units"], "units")
    if units.empty or end is None:
        return _empty_panel()
    day = units["day"].to_numpy(np.int64)
    qty = units["units"].to_numpy(np.int64)
    key, pair_t, pair_sc, tenants, skus = _sku_keys(units, None)
    pair_s = skus[pair_sc]
    first = np.full(len(pair_s), np.iinfo(np.int64).max)
    np.minimum.at(first, key, day)
    total = np.bincount(key, weights=qty, minlength=len(pair_s))
    labels = np.array([f"{tenants[t]}\x00{s}" for t, s in zip(pair_t, pair_s, strict=True)],
                      dtype=object)
    keep = _select_skus(total, first, end, labels, top_n, min_days)
    if len(keep) == 0:
        return _empty_panel()
    remap = np.full(len(pair_s), -1)
    remap[keep] = np.arange(len(keep))
    series, days, _ = _grid(first[keep], end)
    _, starts = _segments(first[keep], end)
    new = remap[key]
    sel = new >= 0
    pos = starts[new[sel]] + (day[sel] - first[keep][new[sel]])
    del key, day, new
    y = np.bincount(pos, weights=qty[sel], minlength=len(days)).astype(np.int64)
    context = aggregate_context(daily_context) if daily_context is not None else None
    tenant_code = pair_t[keep][series]
    out = {"unique_id": pair_s[keep][series], "ds": _days_to_ds(days), "y": y,
           "tenant_id": tenants[tenant_code]}
    out |= exogenous_columns(tenant_code, tenants, days, context)
    del series, days, tenant_code
    # copy=False: one block per column, not a consolidated copy of a 14M-row panel
    return pd.DataFrame(out, copy=False)


def _sku_keys(
    frame: pd.DataFrame, rows: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Series code per selected row and, per series, its tenant code and sku code.

    Returns:
        ``key`` (series code per row), ``pair_t`` (tenant code per series), ``pair_sc`` (sku
        code per series), the tenant ids and the skus.
    """
    pick = (lambda c: frame[c]) if rows is None else (lambda c: frame[c][rows])
    t_codes, tenants = dense_codes(pick("tenant_id"), "order_lines.tenant_id")
    s_codes, skus = dense_codes(pick("sku"), "order_lines.sku")
    if len(tenants) == 1:  # the usual case: sku codes are already the series codes
        return s_codes, np.zeros(len(skus), np.int64), np.arange(len(skus)), tenants, skus
    width = len(skus) + 1
    key, pairs = pd.factorize(t_codes * width + s_codes)
    return key.astype(np.int64), pairs // width, pairs % width, tenants, skus


def _empty_units() -> pd.DataFrame:
    return pd.DataFrame({"tenant_id": pd.Categorical([]), "sku": pd.Categorical([]),
                         "day": np.array([], np.int64), "units": np.array([], np.int64)})


def _empty_panel() -> pd.DataFrame:
    cols = {"unique_id": np.array([], dtype=object), "ds": np.array([], "datetime64[ns]"),
            "y": np.array([], np.int64), "tenant_id": np.array([], dtype=object)}
    cols |= calendar_columns(np.array([], np.int64)) | _empty_context(0)
    return pd.DataFrame(cols)


def regional_context(daily_context: pd.DataFrame) -> pd.DataFrame:
    """Region-averaged context per tenant and day: ``tenant_id, ds`` + :data:`REGIONAL`.

    :func:`aggregate_context` keeps the *maximum* promotion intensity over regions, so a
    flash sale in one city looks national; a tenant's volume moves with the *mean* over
    regions. Same for bad weather: the share of regions with rain, snow or a storm.
    """
    require_columns(daily_context, ("tenant_id", "date", "promotion_intensity", "weather"),
                    "daily_context")
    c = daily_context
    cols = {"tenant_id": c["tenant_id"].astype(str).to_numpy(),
            "ds": pd.to_datetime(c["date"]).to_numpy(),
            "promotion_mean": c["promotion_intensity"].fillna(0.0).astype(float).to_numpy()}
    cols |= {f"{w}_share": (c["weather"] == w).to_numpy(float) for w in SHARE_WEATHER}
    out = pd.DataFrame(cols)
    return out.groupby(["tenant_id", "ds"], as_index=False)[list(REGIONAL)].mean()


def add_regional_context(series: pd.DataFrame, daily_context: pd.DataFrame | None
                         ) -> pd.DataFrame:
    """Add :data:`REGIONAL` columns (0 on days without context) to a volume or SKU frame."""
    if daily_context is None or daily_context.empty or series.empty:
        return series
    key = "tenant_id" if "tenant_id" in series.columns else "unique_id"
    reg = regional_context(daily_context).rename(columns={"tenant_id": key})
    out = series.merge(reg, on=[key, "ds"], how="left")
    out[list(REGIONAL)] = out[list(REGIONAL)].fillna(0.0)
    return out


def holiday_frame(daily_context: pd.DataFrame | None) -> pd.DataFrame | None:
    """Named holidays (``holiday, ds``) from the context, for Prophet's per-holiday effects.

    A binary holiday flag mixes opposite effects (the Spring Festival slump, the Double 11
    peak); one effect per name separates them. None when the context names no holiday.
    """
    if daily_context is None or "holiday_name" not in daily_context:
        return None
    c = daily_context[daily_context["holiday_name"].notna()]
    if c.empty:
        return None
    out = pd.DataFrame({"holiday": c["holiday_name"].astype(str).to_numpy(),
                        "ds": pd.to_datetime(c["date"]).to_numpy()})
    return out.drop_duplicates().sort_values(["ds", "holiday"], ignore_index=True)
