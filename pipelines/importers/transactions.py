"""Importer for a plain purchase log (one row per purchase or purchase line), CSV or parquet.

The most common export there is — customer, timestamp, amount, maybe an order id, SKU,
quantity, channel, country — mapped onto the order data contract and written to the landing
zone (``<out>/<table>/``), ready for ``oms-ml ingest``:

* positive amounts are sales: rows with an order id form that order; without one, a known
  customer's rows on the same local day form one order (``<customer>-<yyyymmdd>``), a guest
  row (no customer) is an order of its own; ``amount`` is the row's value (quantity × price);
* negative amounts are refunds → ``Returned`` events on the order they refund: the same order
  id when given, else the customer's latest earlier order (with that SKU when SKUs are known);
* columns the source lacks stay **null** (channel, delivery, lateness, support contacts,
  quantity, unit price, warehouse): nothing is invented; without SKUs no ``order_lines`` or
  ``products`` are written. Without a country the region is
  ``Unspecified``; without a currency option it is ``XXX`` (ISO 4217: no currency);
* ``customers`` (first seen = signup, most common country, tier by whole-log spend quantiles,
  which looks ahead in time: churn features never use it) and, with SKUs, ``products``.

Every source row is accounted for: mapped (sale line or refund) or set aside with a reason in
``<out>/_import_rejects/transactions.parquet`` (unparseable timestamp, missing customer on a
refund, zero or unparseable amount, bad quantity, refund with nothing to refund, ...).
``rows_in = mapped + set aside`` is checked before the import returns.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from oms.lake import LakeError, read_table
from oms.validate import ContractError
from pipelines.importers.online_retail import ImportReport, _mode_per, write_landing, write_rejects

REJECTS = "_import_rejects/transactions.parquet"
SALE, REFUND = "sale line", "refund → Returned event"
REQUIRED = ("customer", "timestamp", "amount")
# candidate source names per role, compared case- and punctuation-insensitively
DEFAULT_NAMES: dict[str, tuple[str, ...]] = {
    "customer": ("customer_id", "customer", "customerid", "client_id", "user_id", "member_id",
                 "buyer_id", "account_id"),
    "timestamp": ("timestamp", "order_ts", "order_date", "invoicedate", "transaction_date",
                  "purchase_date", "datetime", "date", "ts", "time", "created_at"),
    "amount": ("amount", "total_amount", "line_amount", "total", "revenue", "sales", "value",
               "spend", "order_value", "price"),
    "order_id": ("order_id", "invoice", "invoiceno", "invoice_no", "transaction_id",
                 "receipt_id", "basket_id"),
    "sku": ("sku", "stockcode", "stock_code", "product_id", "item_id", "product", "item"),
    "quantity": ("quantity", "qty", "units", "count"),
    "channel": ("channel", "sales_channel"),
    "country": ("country", "region", "market"),
}


@dataclass
class TransactionsReport(ImportReport):
    """:class:`ImportReport` plus the source column used for each role."""

    columns: dict[str, str] = field(default_factory=dict)


@dataclass
class ColumnMapping:
    """Source column per contract role; ``None`` = the source has no such column."""

    customer: str | None = None
    timestamp: str | None = None
    amount: str | None = None
    order_id: str | None = None
    sku: str | None = None
    quantity: str | None = None
    channel: str | None = None
    country: str | None = None
    resolved: dict[str, str] = field(default_factory=dict)


def _norm(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def resolve_mapping(columns: list[str], mapping: ColumnMapping) -> dict[str, str]:
    """Source column per role: the given name (must exist) or the first common name found.

    Raises:
        ContractError: A given column is not in the source, or a required role
            (customer, timestamp, amount) has neither a given nor a recognisable column.
    """
    by_norm = {_norm(c): c for c in columns}
    out: dict[str, str] = {}
    for role in DEFAULT_NAMES:
        given = getattr(mapping, role)
        if given is not None:
            if given not in columns:
                raise ContractError(f"--{role.replace('_', '-')} {given!r} is not a column of "
                                    f"the source; it has {list(columns)}")
            out[role] = given
            continue
        taken = set(out.values())
        found = [by_norm[_norm(n)] for n in DEFAULT_NAMES[role]
                 if _norm(n) in by_norm and by_norm[_norm(n)] not in taken]
        if found:
            out[role] = found[0]
    missing = [r for r in REQUIRED if r not in out]
    if missing:
        raise ContractError(
            f"cannot find the {', '.join(missing)} column(s) in {list(columns)}; name them with "
            + " ".join(f"--{r} COLUMN" for r in missing))
    return out


def read_log(path: str) -> pd.DataFrame:
    """Read a CSV file (all columns as text) or a parquet file/folder."""
    p = Path(path)
    if str(path).lower().endswith((".csv", ".csv.gz", ".txt")):
        if not p.exists():
            raise LakeError(f"{path}: no such file")
        try:
            return pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
            raise ContractError(f"{path}: not a readable CSV file ({e})") from None
    return read_table(str(path)).reset_index(drop=True)


def _text(s: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(s):
        s = s.map(lambda v: str(int(v)) if pd.notna(v) and float(v).is_integer() else v)
    t = s.astype("string").str.strip()
    return t.mask(t == "")


def _to_datetime(text: pd.Series, utc: bool, dayfirst: bool) -> pd.Series:
    out = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=utc)
    retry = out.isna() & text.notna()
    if retry.any():
        out[retry] = pd.to_datetime(text[retry], errors="coerce", format="mixed",
                                    dayfirst=dayfirst, utc=utc)
    return out


def parse_times(s: pd.Series, timezone: str, dayfirst: bool) -> pd.Series:
    """UTC timestamps; values without an offset are local time in ``timezone``; bad → NaT."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_dtype(s):
        naive, local = pd.Series(True, index=s.index), s.astype("datetime64[ns]")
    else:
        text = s.astype("string").str.strip()
        naive = ~text.str.contains(r"(?:[+-]\d\d:?\d\d|Z)$", regex=True, na=False)
        if (~naive).any():
            out[~naive] = _to_datetime(text[~naive], True, dayfirst)
        local = _to_datetime(text[naive], False, dayfirst).astype("datetime64[ns]")
    if naive.any():
        utc = local[naive].dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        out[naive] = utc.dt.tz_convert("UTC")
    return out


def normalise(raw: pd.DataFrame, cols: dict[str, str], timezone: str,
              dayfirst: bool) -> pd.DataFrame:
    """Typed working columns (roles the source lacks are null)."""
    def col(role: str) -> pd.Series:
        return raw[cols[role]] if role in cols else pd.Series(pd.NA, index=raw.index)

    ts = parse_times(raw[cols["timestamp"]], timezone, dayfirst).astype("datetime64[ns, UTC]")
    local = ts.dt.tz_convert(timezone).dt.tz_localize(None)
    amount = pd.to_numeric(_text(col("amount")).str.replace(",", "", regex=False),
                           errors="coerce").astype("float64")
    qty = pd.to_numeric(_text(col("quantity")), errors="coerce").astype("float64")
    country = _text(col("country"))
    channel = _text(col("channel")).str.lower()
    return pd.DataFrame({
        "customer_id": _text(col("customer")), "order_id": _text(col("order_id")),
        "sku": _text(col("sku")), "qty": qty, "amount": amount,
        "channel": channel, "region": country.fillna("Unspecified"), "country": country,
        "ts": ts, "date": local.dt.normalize().astype("datetime64[ns]"),
    }, index=raw.index)


def classify(x: pd.DataFrame, cols: dict[str, str]) -> np.ndarray:
    """``SALE``, ``REFUND`` (matched later) or a set-aside reason per row."""
    qty, amt = x["qty"].to_numpy(float), x["amount"].to_numpy(float)
    has_qty = "quantity" in cols
    rules = [
        (x["ts"].isna(), "missing or unparseable timestamp"),
        (np.isnan(amt), "missing or unparseable amount"),
        (amt == 0, "zero amount"),
        (has_qty & (np.isnan(qty) | (np.floor(qty) != qty)), "missing or non-integer quantity"),
        (has_qty & (qty == 0), "zero quantity"),
        (has_qty & (amt > 0) & (qty < 0), "positive amount with a negative quantity"),
        (x["customer_id"].isna() & (amt < 0), "refund without a customer"),
        ("sku" in cols and x["sku"].isna(), "missing SKU"),
        (amt < 0, REFUND),
    ]
    conditions = [np.asarray(pd.Series(m, index=x.index).fillna(False), dtype=bool)
                  for m, _ in rules]
    return np.select(conditions, [r for _, r in rules], default=SALE)


def order_ids(sales: pd.DataFrame) -> pd.Series:
    """Given order id, else ``<customer>-<yyyymmdd>`` (known) or ``row-<n>`` (guest)."""
    day = sales["date"].dt.strftime("%Y%m%d").astype("string")
    made = (sales["customer_id"] + "-" + day).fillna(
        "row-" + pd.Series(sales.index, index=sales.index).astype("string"))
    return sales["order_id"].fillna(made)


def build_lines(sales: pd.DataFrame, tenant_id: str) -> pd.DataFrame:
    """``order_lines``: one per sale row; quantity and unit price only when the source has them."""
    qty = sales["qty"].astype("Int64") if sales["qty"].notna().any() else pd.array(
        [pd.NA] * len(sales), dtype="Int64")
    unit = (sales["amount"] / sales["qty"]).round(4)
    return pd.DataFrame({
        "tenant_id": tenant_id, "order_id": sales["oid"],
        "line_no": (sales.groupby("oid", sort=False).cumcount() + 1).astype("int64"),
        "sku": sales["sku"],
        "quantity": qty, "unit_price": unit.astype("float64"),
        "line_amount": sales["amount"].round(4), "is_product": True,
        "order_date": sales["date"],
    }).astype({"sku": "string"})


def build_orders(sales: pd.DataFrame, tenant_id: str, currency: str) -> pd.DataFrame:
    """One ``orders`` row per (given or same-day) order; unknown facts stay null."""
    g = sales.groupby("oid", sort=False)
    head = g.agg(customer_id=("customer_id", "first"), order_ts=("ts", "min"),
                 region=("region", "first"), channel=("channel", "first"),
                 total_amount=("amount", "sum"), n_lines=("amount", "size"))
    customer = head["customer_id"].astype("string")
    return pd.DataFrame({
        "tenant_id": tenant_id, "order_id": head.index.astype("string"),
        "customer_id": customer.to_numpy(), "is_guest": customer.isna().to_numpy(),
        "order_ts": head["order_ts"].to_numpy(),
        "order_date": sales.groupby("oid", sort=False)["date"].min().to_numpy(),
        "channel": head["channel"].to_numpy(), "region": head["region"].to_numpy(),
        "warehouse_id": pd.NA, "status": "created",
        "total_amount": head["total_amount"].round(2).to_numpy(), "currency": currency,
        "n_lines": head["n_lines"].astype("int64").to_numpy(),
        "promised_hours": np.nan, "delivery_hours": np.nan, "is_late": pd.NA,
        "support_contacts": pd.NA,
    }).astype({"order_ts": "datetime64[ns, UTC]", "order_date": "datetime64[ns]",
               "warehouse_id": "string", "channel": "string", "is_late": "boolean",
               "support_contacts": "Int64"})


def match_refunds(refunds: pd.DataFrame, sales: pd.DataFrame) -> pd.Series:
    """Order each refund returns (null when none).

    Its own order id if that order has sales, else the customer's latest order at or before
    the refund (with the same SKU when SKUs are known).
    """
    out = pd.Series(pd.NA, index=refunds.index, dtype="string")
    own = refunds["order_id"].where(refunds["order_id"].isin(set(sales["oid"])))
    out[own.notna()] = own[own.notna()]
    rest = refunds[own.isna()]
    if rest.empty or sales.empty:
        return out
    key = ["customer_id"] + (["sku"] if rest["sku"].notna().all() else [])
    left = rest[[*key, "ts"]].reset_index().astype({k: object for k in key}).sort_values("ts")
    right = sales[[*key, "ts", "oid"]].dropna(subset=key).astype(
        {k: object for k in key}).sort_values("ts")
    m = pd.merge_asof(left, right, on="ts", by=key, direction="backward")
    out.loc[m["index"].to_numpy()] = m["oid"].astype("string").to_numpy()
    return out


def build_events(orders: pd.DataFrame, refunds: pd.DataFrame, tenant_id: str) -> pd.DataFrame:
    """``OrderCreated`` per order plus one ``Returned`` per matched refund row."""
    k = refunds.groupby("oid", sort=False).cumcount() + 1
    frames = [
        pd.DataFrame({"event_id": orders["order_id"] + "-created", "order_id": orders["order_id"],
                      "event_type": "OrderCreated", "event_ts": orders["order_ts"],
                      "event_date": orders["order_date"], "sku": pd.NA, "quantity": pd.NA,
                      "amount": np.nan}),
        pd.DataFrame({"event_id": refunds["oid"] + "-R" + k.astype("string"),
                      "order_id": refunds["oid"], "event_type": "Returned",
                      "event_ts": refunds["ts"], "event_date": refunds["date"],
                      "sku": refunds["sku"], "quantity": -refunds["qty"],
                      "amount": -refunds["amount"]}),
    ]
    dtypes = {"event_id": "string", "order_id": "string", "sku": "string", "quantity": "Int64",
              "amount": "float64", "event_ts": "datetime64[ns, UTC]",
              "event_date": "datetime64[ns]"}
    ev = pd.concat([f.astype(dtypes) for f in frames], ignore_index=True)
    ev.insert(0, "tenant_id", tenant_id)
    ev.insert(6, "warehouse_id", pd.Series(pd.NA, index=ev.index, dtype="string"))
    return ev


def build_customers(sales: pd.DataFrame, tenant_id: str) -> pd.DataFrame:
    """Known customers: first purchase day, most common country, tier by spend quantiles."""
    known = sales[sales["customer_id"].notna()]
    first = known.groupby("customer_id")["date"].min()
    country = _mode_per(known, "customer_id", "region").reindex(first.index)
    spend = known.groupby("customer_id")["amount"].sum().reindex(first.index)
    q50, q80, q95 = spend.quantile([0.5, 0.8, 0.95]) if len(spend) else (0, 0, 0)
    tier = np.select([spend >= q95, spend >= q80, spend >= q50], ["platinum", "gold", "silver"],
                     default="bronze")
    return pd.DataFrame({
        "tenant_id": tenant_id, "customer_id": first.index.astype("string"),
        "signup_date": first.to_numpy(), "region": country.to_numpy(),
        "country": country.to_numpy(), "tier": tier, "lat": np.nan, "lon": np.nan,
    })


def build_products(sales: pd.DataFrame, tenant_id: str) -> pd.DataFrame:
    """One row per SKU sold: median unit price where quantities are known, else null."""
    unit = (sales["amount"] / sales["qty"]).where(sales["qty"] > 0)
    price = unit.groupby(sales["sku"]).median()
    return pd.DataFrame({
        "tenant_id": tenant_id, "sku": price.index.astype("string"), "name": pd.NA,
        "category": "uncategorised", "unit_price": price.fillna(0.0).round(4).to_numpy(),
        "unit_cost": np.nan, "is_product": True,
    }).astype({"name": "string"})


def map_tables(x: pd.DataFrame, kind: np.ndarray, tenant_id: str, currency: str,
               has_sku: bool) -> tuple[dict[str, pd.DataFrame], pd.Series]:
    """Landing tables and the final kind per row (unmatched refunds become a reason)."""
    kind = pd.Series(kind, index=x.index)
    sales = x[kind == SALE].assign(oid=lambda d: order_ids(d))
    refunds = x[kind == REFUND]
    target = match_refunds(refunds, sales)
    kind[target[target.isna()].index] = "refund with no earlier purchase to return against"
    refunds = refunds.assign(oid=target).loc[target.notna()]
    orders = build_orders(sales, tenant_id, currency)
    orders.loc[orders["order_id"].isin(set(refunds["oid"])), "status"] = "returned"
    tables = {"orders": orders, "order_events": build_events(orders, refunds, tenant_id),
              "customers": build_customers(sales, tenant_id)}
    if has_sku:  # without SKUs there are no lines to describe: none are invented
        lines = build_lines(sales, tenant_id)
        # a line's business day is its order's (an order id may span midnight)
        lines["order_date"] = lines["order_id"].map(orders.set_index("order_id")["order_date"])
        tables |= {"order_lines": lines, "products": build_products(sales, tenant_id)}
    return tables, kind


def import_transactions(
    path: str, out: str, mapping: ColumnMapping | None = None, tenant_id: str = "default",
    timezone: str = "UTC", currency: str = "XXX", dayfirst: bool = False,
) -> TransactionsReport:
    """Map a purchase log onto the contract and write the landing zone.

    Args:
        path: CSV file, or parquet file/folder, one row per purchase (line).
        out: Landing root; tables go to ``<out>/<table>/`` (replaced atomically).
        mapping: Source column per role; unnamed roles are found by common names.
        tenant_id: Tenant id written on every row.
        timezone: Time zone of timestamps without an offset (and of business days).
        currency: ISO currency code of the amounts (``XXX`` = not stated).
        dayfirst: Read ambiguous dates like 03/04/2011 as 3 April.

    Returns:
        The report: rows in = mapped + set aside, per reason.

    Raises:
        oms.lake.LakeError: The file cannot be read (path named).
        ContractError: A required column is missing or a named column does not exist.
    """
    started = time.perf_counter()
    raw = read_log(str(path))
    cols = resolve_mapping(list(raw.columns), mapping or ColumnMapping())
    x = normalise(raw, cols, timezone, dayfirst)
    tables, kind = map_tables(x, classify(x, cols), tenant_id, currency, "sku" in cols)
    rep = TransactionsReport(source=str(path), out=str(out), tenant_id=tenant_id,
                             rows_in=len(raw), columns=cols)
    rep.tables = write_landing(tables, str(out))
    aside = kind[~kind.isin([SALE, REFUND])]
    rep.rejects_uri = write_rejects(raw, aside, str(path), str(out), list(raw.columns), REJECTS)
    rep.mapped = {SALE: int((kind == SALE).sum()), REFUND: int((kind == REFUND).sum())}
    rep.set_aside = dict(Counter(aside.tolist()).most_common())
    rep.seconds = time.perf_counter() - started
    rep.check()
    return rep
