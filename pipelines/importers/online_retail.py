"""Importer for the UCI "Online Retail" export (Chen, Sain & Guo 2012; CC BY 4.0).

Maps one row per invoice line onto the order data contract and writes the landing zone
(``<out>/<table>/``), ready for ``oms-ml ingest``:

* sale invoices → ``orders`` (one per InvoiceNo) + ``order_lines``; InvoiceDate is UK local
  time (Europe/London) → UTC ``order_ts`` and the local business day ``order_date``; channel
  ``web``, currency ``GBP``, region = Country; no warehouse or delivery data (null);
* CustomerID (a float) → string id; a null CustomerID is a guest order (``is_guest``);
* non-product codes (postage, fees, manual lines, discounts, samples, gift vouchers, ...) stay
  as lines with ``is_product`` False, so demand features can leave them out;
* cancellations (InvoiceNo ``C…``, negative quantities) become ``order_events``: ``Returned``
  when the same customer bought that SKU on an earlier invoice (the event points at that
  order), else ``Cancelled`` (pointing at the cancellation's own number);
* every order gets an ``OrderCreated`` event; deliveries are unknown, so none are invented;
* ``customers`` (first seen = signup, country, tier by whole-period spend quantiles),
  ``products`` (most common description, median positive price), and ``daily_context``
  (UK/England public holidays from ``holidays``; no promotions; weather unknown).

Nothing is dropped silently. Rows the importer cannot map (zero prices, stock adjustments,
missing fields) are set aside with a reason in ``<out>/_import_rejects/online_retail.parquet``
and counted; lines with a negative price are written to landing as they are, so that ingest
quarantines them under the contract's rule. ``rows_in = mapped + set aside + to quarantine``.

This module is over 400 lines: it is one importer's whole mapping (orders, lines,
returns, products, rejects with reasons); its parts only make sense read together.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import holidays
import numpy as np
import pandas as pd

from oms.lake import DatasetWriter, read_table, table_uri, write_frame
from oms.validate import REASON, ROW, SOURCE, ContractError

TIMEZONE = "Europe/London"
CURRENCY = "GBP"
CHANNEL = "web"
SOURCE_COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                  "UnitPrice", "CustomerID", "Country")
NON_PRODUCT_CODES = frozenset({
    "POST", "DOT", "C2", "D", "M", "CRUK", "BANK CHARGES", "AMAZONFEE", "PADS", "S", "B",
})
REJECTS = "_import_rejects/online_retail.parquet"

LINE = "sale line"
NEGATIVE_PRICE = "negative unit price (written to landing; ingest quarantines it)"
CANCEL = "cancellation line"


def _per_unique(s: pd.Series, fn: Callable[[pd.Series], pd.Series], dtype: str) -> pd.Series:
    """Apply a vectorised function once per distinct value (ids repeat a lot), then expand."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    if len(uniques) == 0:
        return pd.Series(pd.NA, index=s.index, dtype=dtype)
    mapped = pd.array(np.asarray(fn(pd.Series(uniques)), dtype=object), dtype=dtype)
    out = mapped.take(codes, allow_fill=True)  # -1 (a null input) → null
    return pd.Series(out, index=s.index)


def _non_product(codes: pd.Series) -> pd.Series:
    upper = codes.astype("string").str.upper()
    return (upper.isin(NON_PRODUCT_CODES) | upper.str.startswith("GIFT_")).fillna(False)


def is_non_product(codes: pd.Series) -> pd.Series:
    """True for postage, fee, manual, discount, sample, bad-debt and gift-voucher codes."""
    return _per_unique(codes, _non_product, "boolean").fillna(False).astype(bool)


@dataclass
class ImportReport:
    """What the import did with every source row.

    Attributes:
        source: The export that was read.
        out: Landing root written.
        tenant_id: Tenant of every row.
        rows_in: Source rows read.
        mapped: Rows mapped onto the contract, per kind (product/non-product line,
            cancellation → Returned/Cancelled).
        set_aside: Rows not mapped, per reason (written to the rejects file).
        to_quarantine: Rows written to landing although they break the contract, per reason
            (ingest quarantines them).
        tables: Rows written per landing table.
        non_product_lines: Sale lines per non-product code.
        duplicate_source_rows: Source rows identical to an earlier one (kept as lines).
        rejects_uri: Where set-aside rows went (raw values + ``_reason``).
        seconds: Wall time.
    """

    source: str
    out: str
    tenant_id: str
    rows_in: int = 0
    mapped: dict[str, int] = field(default_factory=dict)
    set_aside: dict[str, int] = field(default_factory=dict)
    to_quarantine: dict[str, int] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)
    non_product_lines: dict[str, int] = field(default_factory=dict)
    duplicate_source_rows: int = 0
    rejects_uri: str = ""
    seconds: float = 0.0

    @property
    def rows_mapped(self) -> int:
        """Source rows mapped onto contract rows."""
        return sum(self.mapped.values())

    @property
    def rows_set_aside(self) -> int:
        """Source rows not mapped (set aside by the importer or left for ingest to quarantine)."""
        return sum(self.set_aside.values()) + sum(self.to_quarantine.values())

    def check(self) -> None:
        """Raise if a source row is unaccounted for."""
        if self.rows_in != self.rows_mapped + self.rows_set_aside:
            raise RuntimeError(
                f"{self.rows_in} rows in but {self.rows_mapped} mapped + "
                f"{self.rows_set_aside} set aside: rows were lost"
            )


# --- reading and normalising ---------------------------------------------------------------


def read_export(path: str) -> pd.DataFrame:
    """Read the export (parquet file or folder) and check its columns.

    Raises:
        oms.lake.LakeError: The path does not exist or is not readable parquet.
        ContractError: A column of the published export is missing (named).
    """
    raw = read_table(path)
    missing = [c for c in SOURCE_COLUMNS if c not in raw.columns]
    if missing:
        raise ContractError(f"{path}: missing Online Retail column(s) {missing}")
    return raw.reset_index(drop=True)


def _as_id(s: pd.Series) -> pd.Series:
    """Text ids: 17850.0 → "17850", blanks → null."""
    return _per_unique(s, _numeric_id if pd.api.types.is_numeric_dtype(s) else _text_id, "string")


def _numeric_id(u: pd.Series) -> list[str]:
    num = pd.to_numeric(u, errors="coerce")
    return [str(int(v)) if float(v).is_integer() else str(v) for v in num]


def _text_id(u: pd.Series) -> pd.Series:
    text = u.astype("string").str.strip().str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    return text.mask(text == "")


def _local_times(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert(TIMEZONE).dt.tz_localize(None).astype("datetime64[ns]")
    if not pd.api.types.is_datetime64_dtype(s):
        s = pd.to_datetime(s, errors="coerce", format="mixed")
    return s.astype("datetime64[ns]")


def normalise(raw: pd.DataFrame) -> pd.DataFrame:
    """Typed working columns: ids as text, local and UTC times, business day, numbers."""
    local = _local_times(raw["InvoiceDate"])
    utc = local.dt.tz_localize(TIMEZONE, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    qty = pd.to_numeric(raw["Quantity"], errors="coerce")
    country = raw["Country"].astype("string").str.strip()
    return pd.DataFrame({
        "invoice": _as_id(raw["InvoiceNo"]),
        "sku": _as_id(raw["StockCode"]),
        "description": raw["Description"].astype("string"),
        "qty": qty.where(np.floor(qty) == qty),
        "price": pd.to_numeric(raw["UnitPrice"], errors="coerce").astype("float64"),
        "customer_id": _as_id(raw["CustomerID"]),
        "region": country.mask(country.isna() | (country == ""), "Unspecified"),
        "local": local,
        "ts": utc.astype("datetime64[ns, UTC]"),
        "date": local.dt.normalize(),
    })


def classify(x: pd.DataFrame) -> np.ndarray:
    """What becomes of each row: ``LINE``, ``CANCEL``, ``NEGATIVE_PRICE`` or a set-aside reason."""
    cancel = _per_unique(x["invoice"], lambda u: u.str.upper().str.startswith("C"), "boolean")
    cancel = cancel.fillna(False).to_numpy(dtype=bool)
    qty, price = x["qty"].to_numpy(dtype=float), x["price"].to_numpy(dtype=float)
    rules = [
        (x["invoice"].isna(), "missing InvoiceNo"),
        (x["sku"].isna(), "missing StockCode"),
        (np.isnan(qty), "missing or non-integer Quantity"),
        (x["local"].isna(), "missing or unreadable InvoiceDate"),
        (np.isnan(price), "missing or unreadable UnitPrice"),
        (x["ts"].isna(), "InvoiceDate does not exist or is ambiguous in Europe/London"),
        (qty == 0, "zero quantity"),
        (cancel & (qty > 0), "cancellation with a positive quantity"),
        (cancel & (price < 0), "cancellation with a negative unit price"),
        (cancel, CANCEL),
        ((qty < 0) & (price == 0), "stock adjustment (negative quantity, zero price)"),
        (qty < 0, "negative quantity on a sale invoice"),
        (price == 0, "zero unit price (free item or stock adjustment)"),
        (price < 0, NEGATIVE_PRICE),
    ]
    conditions = [np.asarray(pd.Series(m).fillna(False), dtype=bool) for m, _ in rules]
    return np.select(conditions, [r for _, r in rules], default=LINE)


# --- building contract tables ----------------------------------------------------------------


def build_lines(x: pd.DataFrame, tenant_id: str) -> pd.DataFrame:
    """``order_lines`` from sale rows, numbered in source order within each invoice."""
    line_no = x.groupby("invoice", sort=False).cumcount() + 1
    qty = x["qty"].astype("int64")
    return pd.DataFrame({
        "tenant_id": tenant_id,
        "order_id": x["invoice"],
        "line_no": line_no.astype("int64"),
        "sku": x["sku"],
        "quantity": qty,
        "unit_price": x["price"],
        "line_amount": (qty * x["price"]).round(4),
        "is_product": ~is_non_product(x["sku"]),
        "order_date": x["date"],
    })


def build_orders(x: pd.DataFrame, lines: pd.DataFrame, tenant_id: str) -> pd.DataFrame:
    """One ``orders`` row per sale invoice; the value counts product lines only."""
    product_amount = lines["line_amount"].where(lines["is_product"], 0.0)
    g = x.assign(amount=product_amount.to_numpy()).groupby("invoice", sort=False)
    head = g.agg(customer_id=("customer_id", "first"), order_ts=("ts", "min"),
                 region=("region", "first"), total_amount=("amount", "sum"),
                 n_lines=("sku", "size"))
    ts = head["order_ts"]
    customer = head["customer_id"].astype("string")
    return pd.DataFrame({
        "tenant_id": tenant_id,
        "order_id": head.index.astype("string"),
        "customer_id": customer.to_numpy(),
        "is_guest": customer.isna().to_numpy(),
        "order_ts": ts.to_numpy(),
        "order_date": ts.dt.tz_convert(TIMEZONE).dt.tz_localize(None).dt.normalize().to_numpy(),
        "channel": CHANNEL,
        "region": head["region"].to_numpy(),
        "warehouse_id": pd.NA,
        "status": "created",
        "total_amount": head["total_amount"].round(2).to_numpy(),
        "currency": CURRENCY,
        "n_lines": head["n_lines"].astype("int64").to_numpy(),
        "promised_hours": np.nan,
        "delivery_hours": np.nan,
        "is_late": pd.NA,
        "support_contacts": 0,
    }).astype({"order_ts": "datetime64[ns, UTC]", "warehouse_id": "string",
               "is_late": "boolean"})


def match_returns(cancels: pd.DataFrame, sales: pd.DataFrame) -> pd.Series:
    """Order id of the latest earlier invoice where the same customer bought the same SKU.

    Only product lines of known customers can match; others get null (→ ``Cancelled``).
    """
    left = cancels[["customer_id", "sku", "ts"]].reset_index()
    left = left[left["customer_id"].notna() & ~is_non_product(left["sku"])]
    right = sales.loc[sales["customer_id"].notna(), ["customer_id", "sku", "ts", "invoice"]]
    out = pd.Series(pd.NA, index=cancels.index, dtype="string")
    if left.empty or right.empty:
        return out
    key = ["customer_id", "sku"]
    left = left.astype({k: object for k in key}).sort_values("ts")
    right = right.astype({k: object for k in key}).sort_values("ts")
    m = pd.merge_asof(left, right, on="ts", by=key, direction="backward",
                      allow_exact_matches=True)
    out.loc[m["index"].to_numpy()] = m["invoice"].astype("string").to_numpy()
    return out


def build_events(orders: pd.DataFrame, cancels: pd.DataFrame, sales: pd.DataFrame,
                 tenant_id: str) -> pd.DataFrame:
    """``OrderCreated`` per order plus one ``Returned``/``Cancelled`` per cancellation line."""
    created = pd.DataFrame({
        "tenant_id": tenant_id,
        "event_id": orders["order_id"] + "-created",
        "order_id": orders["order_id"],
        "event_type": "OrderCreated",
        "event_ts": orders["order_ts"],
        "event_date": orders["order_date"],
        "sku": pd.NA, "quantity": pd.NA, "amount": np.nan,
    })
    matched = match_returns(cancels, sales)
    qty = -cancels["qty"].astype("int64")
    k = cancels.groupby("invoice", sort=False).cumcount() + 1
    returns = pd.DataFrame({
        "tenant_id": tenant_id,
        "event_id": cancels["invoice"] + "-" + k.astype("string"),
        "order_id": matched.fillna(cancels["invoice"]),
        "event_type": np.where(matched.notna(), "Returned", "Cancelled"),
        "event_ts": cancels["ts"],
        "event_date": cancels["date"],
        "sku": cancels["sku"], "quantity": qty, "amount": (qty * cancels["price"]).round(2),
    })
    dtypes = {"event_id": "string", "order_id": "string", "sku": "string", "quantity": "Int64",
              "amount": "float64", "event_ts": "datetime64[ns, UTC]",
              "event_date": "datetime64[ns]"}
    events = pd.concat([created.astype(dtypes), returns.astype(dtypes)], ignore_index=True)
    events.insert(6, "warehouse_id", pd.Series(pd.NA, index=events.index, dtype="string"))
    return events


def _mode_per(df: pd.DataFrame, key: str, value: str) -> pd.Series:
    """Most frequent non-null ``value`` per ``key`` (ties: first seen)."""
    counts = df[[key, value]].dropna().value_counts(sort=False).reset_index(name="n")
    counts = counts.sort_values("n", ascending=False, kind="stable")
    return counts.drop_duplicates(key).set_index(key)[value]


def build_customers(seen: pd.DataFrame, tenant_id: str) -> pd.DataFrame:
    """Known customers: first seen day, country, tier by net-spend quantiles (50/80/95%).

    Net spend = product sales minus cancelled/returned product value, over the whole export
    (so the tier looks ahead in time: leave it out of churn features at an earlier cutoff).
    """
    known = seen[seen["customer_id"].notna()]
    first = known.groupby("customer_id")["date"].min()
    country = _mode_per(known, "customer_id", "region").reindex(first.index)
    value = (known["qty"] * known["price"]).where(~is_non_product(known["sku"]), 0.0)
    spend = value.groupby(known["customer_id"]).sum().reindex(first.index, fill_value=0.0)
    q50, q80, q95 = spend[spend > 0].quantile([0.5, 0.8, 0.95]) if (spend > 0).any() else (0, 0, 0)
    tier = np.select([spend >= q95, spend >= q80, spend >= q50], ["platinum", "gold", "silver"],
                     default="bronze")
    tier = np.where(spend > 0, tier, "bronze")
    return pd.DataFrame({
        "tenant_id": tenant_id, "customer_id": first.index.astype("string"),
        "signup_date": first.to_numpy(), "region": country.to_numpy(),
        "country": country.to_numpy(), "tier": tier, "lat": np.nan, "lon": np.nan,
    })


def build_products(seen: pd.DataFrame, tenant_id: str) -> pd.DataFrame:
    """One row per SKU that appears in a mapped row: name, median positive price, flags."""
    skus = pd.Index(seen["sku"].dropna().unique(), name="sku")
    name = _mode_per(seen, "sku", "description").reindex(skus)
    price = seen.loc[seen["price"] > 0].groupby("sku")["price"].median().reindex(skus)
    non_product = is_non_product(pd.Series(skus, dtype="string")).to_numpy()
    return pd.DataFrame({
        "tenant_id": tenant_id, "sku": skus.astype("string"), "name": name.to_numpy(),
        "category": np.where(non_product, "non_product", "uncategorised"),
        "unit_price": price.fillna(0.0).round(4).to_numpy(), "unit_cost": np.nan,
        "is_product": ~non_product,
    })


def build_daily_context(orders: pd.DataFrame, events: pd.DataFrame,
                        tenant_id: str) -> pd.DataFrame:
    """Every day × region from the first to the last activity: UK (England) holidays only."""
    if orders.empty:
        return pd.DataFrame(columns=["tenant_id", "date", "region"])
    first = min(orders["order_date"].min(), events["event_date"].min())
    last = max(orders["order_date"].max(), events["event_date"].max())
    days = pd.date_range(first, last, freq="D")
    uk = holidays.country_holidays("GB", subdiv="ENG", years=range(first.year, last.year + 1))
    names = pd.Series([uk.get(d.date()) for d in days], index=days, dtype="string")
    regions = sorted(orders["region"].dropna().unique())
    grid = pd.MultiIndex.from_product([days, regions], names=["date", "region"]).to_frame(
        index=False)
    name = names.reindex(grid["date"]).to_numpy()
    return pd.DataFrame({
        "tenant_id": tenant_id, "date": grid["date"], "region": grid["region"],
        "is_holiday": pd.notna(name), "holiday_name": name, "promotion_name": pd.NA,
        "promotion_intensity": 0.0, "weather": pd.NA, "temperature_c": np.nan,
    }).astype({"holiday_name": "string", "promotion_name": "string", "weather": "string"})


# --- the import ---------------------------------------------------------------------------


def map_tables(x: pd.DataFrame, kind: np.ndarray, tenant_id: str) -> dict[str, pd.DataFrame]:
    """All landing tables from normalised rows and their classification."""
    sale = kind == LINE
    to_lines = x[sale | (kind == NEGATIVE_PRICE)]
    lines_all = build_lines(to_lines, tenant_id)
    sales = x[sale]
    lines = lines_all.loc[sales.index]
    cancels = x[kind == CANCEL]
    orders = build_orders(sales, lines, tenant_id)
    lines_all["order_date"] = _order_dates(lines_all, orders)
    events = build_events(orders, cancels, sales, tenant_id)
    returned = events.loc[events["event_type"] == "Returned", "order_id"].unique()
    orders.loc[orders["order_id"].isin(returned), "status"] = "returned"
    seen = pd.concat([sales, cancels])
    return {
        "orders": orders,
        "order_lines": lines_all,
        "order_events": events,
        "customers": build_customers(seen, tenant_id),
        "products": build_products(seen, tenant_id),
        "daily_context": build_daily_context(orders, events, tenant_id),
    }


def _order_dates(lines: pd.DataFrame, orders: pd.DataFrame) -> pd.Series:
    """A line's business day is its order's (an invoice can straddle two minutes)."""
    by_order = orders.set_index("order_id")["order_date"]
    return lines["order_id"].map(by_order).fillna(lines["order_date"]).astype("datetime64[ns]")


def write_landing(tables: dict[str, pd.DataFrame], out: str) -> dict[str, int]:
    """Write each table atomically under ``out``; returns rows per table."""
    written = {}
    for name, frame in tables.items():
        with DatasetWriter(table_uri(out, name), table=name) as w:
            w.write(frame)
        written[name] = w.rows
    return written


def write_rejects(raw: pd.DataFrame, reasons: pd.Series, source: str, out: str,
                  columns: list[str] | None = None, name: str = REJECTS) -> str:
    """Set-aside rows, raw values as text plus ``_reason``/``_source``/``_row`` (0-based).

    Every importer writes its rejects this way, to ``<out>/<name>``; ``columns`` picks the
    source columns kept (default: the Online Retail export's).
    """
    rows = raw.loc[reasons.index, list(SOURCE_COLUMNS) if columns is None else columns]
    frame = rows.astype(object).where(rows.notna(), None).astype("string")
    frame[REASON] = reasons.astype("string").to_numpy()
    frame[SOURCE] = pd.array([str(source)] * len(frame), dtype="string")
    frame[ROW] = pd.array(reasons.index.to_numpy(), dtype="Int64")
    uri = table_uri(out, name)
    write_frame(frame.reset_index(drop=True), uri)
    return uri


def _mapped_counts(x: pd.DataFrame, kind: np.ndarray, events: pd.DataFrame) -> dict[str, int]:
    non_product = is_non_product(x["sku"]).to_numpy()
    sale = kind == LINE
    cancel_types = events.loc[~events["event_type"].eq("OrderCreated"), "event_type"]
    return {
        "sale line (product)": int((sale & ~non_product).sum()),
        "sale line (non-product code)": int((sale & non_product).sum()),
        "cancellation → Returned": int((cancel_types == "Returned").sum()),
        "cancellation → Cancelled": int((cancel_types == "Cancelled").sum()),
    }


def import_online_retail(path: str, out: str, tenant_id: str = "online_retail") -> ImportReport:
    """Map the UCI Online Retail export onto the contract and write the landing zone.

    Args:
        path: The export as parquet (file or folder) with the published column names.
        out: Landing root; tables go to ``<out>/<table>/`` (replaced atomically).
        tenant_id: Tenant id written on every row.

    Returns:
        The report: rows in = mapped + set aside (+ left for ingest to quarantine), per reason.

    Raises:
        oms.lake.LakeError: The export cannot be read (path named).
        ContractError: The export lacks a published column (named).
    """
    started = time.perf_counter()
    raw = read_export(str(path))
    x = normalise(raw)
    kind = classify(x)
    tables = map_tables(x, kind, tenant_id)
    rep = ImportReport(source=str(path), out=str(out), tenant_id=tenant_id, rows_in=len(raw))
    rep.tables = write_landing(tables, str(out))
    aside = pd.Series(kind, index=x.index)
    aside = aside[~aside.isin([LINE, CANCEL, NEGATIVE_PRICE])]
    rep.rejects_uri = write_rejects(raw, aside, str(path), str(out))
    rep.mapped = _mapped_counts(x, kind, tables["order_events"])
    rep.set_aside = dict(Counter(aside.tolist()).most_common())
    n_negative = int((kind == NEGATIVE_PRICE).sum())
    rep.to_quarantine = {NEGATIVE_PRICE: n_negative} if n_negative else {}
    codes = x.loc[(kind == LINE) & is_non_product(x["sku"]).to_numpy(), "sku"]
    rep.non_product_lines = {str(k): int(v) for k, v in codes.value_counts().items()}
    rep.duplicate_source_rows = int(raw.duplicated().sum())
    rep.seconds = time.perf_counter() - started
    rep.check()
    return rep
