"""Data drift of one day against a reference window, with Evidently's ``DataDriftPreset``.

**Which rows.** The feature tables that ``pipelines.features`` writes aggregate a day to one
row (``daily_volume``) or to one row per SKU that shares the day's context (``sku_demand``),
so "today's rows" there are one sample, or N copies of one calendar/context value: a
distribution test on them says nothing (a constant temperature always "drifts"). The rows
tested here are the ones those tables are built from, each column on its own unit: per
product order line its ``unit_price``, ``quantity`` and ``line_amount``; per order its value,
size (lines, units), channel, region and guest flag. Both kinds of rows sit in one frame
(a line row has NaN order columns and vice versa; every test drops NaN), so one Evidently
report covers the day. Testing order attributes once per order, not once per line, keeps
an order with many lines from counting as many independent samples.

**Tests.** K-S for numbers and chi-square for categories with a p-value threshold of 0.01
(:data:`P_VALUE`). Evidently's own default switches to normed Wasserstein / Jensen-Shannon
distances with a 0.1 threshold once the reference has over 1000 rows, which flags most
ordinary days of a ~100-order day against a 4-week window of heavy-tailed prices.

**Why Evidently.** ``evidently==0.7.23`` installs beside the project's pins without changing
any (checked with ``pip install --dry-run -c requirements/constraints.txt``); it picks the
test per column (K-S / chi-square for small samples, normed Wasserstein / Jensen-Shannon above
1000 rows) and writes a self-contained HTML report (no CDN). It is imported lazily: the
import costs seconds.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import pandas as pd

LINE_NUMERIC = ["unit_price", "quantity", "line_amount"]
ORDER_NUMERIC = ["order_amount", "order_lines", "order_units"]
NUMERIC = [*LINE_NUMERIC, *ORDER_NUMERIC]
CATEGORICAL = ["channel", "region", "is_guest"]
P_VALUE = 0.01
#: Columns compared between the day and the reference window.
DRIFT_COLUMNS = [*NUMERIC, *CATEGORICAL]
ORDER_NEEDS = ["tenant_id", "order_id", "order_date", "channel", "region", "is_guest",
               "total_amount", "n_lines"]
LINE_NEEDS = ["tenant_id", "order_id", "quantity", "unit_price", "line_amount", "is_product"]


@dataclass
class ColumnDrift:
    """Drift of one day: per-column results, the drifted share and Evidently's snapshot.

    Attributes:
        table: ``column, method, score, threshold, drifted`` per compared column.
        share: Share of compared columns that drifted.
        snapshot: Evidently's result (``save_html``, ``json``), None when nothing was compared.
    """

    table: pd.DataFrame
    share: float
    snapshot: object | None = None


def drift_rows(orders: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Line rows and order rows of the given orders in one frame (see the module docstring).

    Args:
        orders: Contract ``orders`` rows (at least :data:`ORDER_NEEDS`).
        lines: Contract ``order_lines`` rows of the same orders (at least :data:`LINE_NEEDS`).

    Returns:
        ``order_date, unit`` (``line`` or ``order``) + :data:`DRIFT_COLUMNS`; a line row has
        NaN order columns and an order row NaN line columns.
    """
    for name, df, need in (("orders", orders, ORDER_NEEDS), ("order_lines", lines, LINE_NEEDS)):
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise ValueError(f"{name} lacks column(s) {missing}")
    key = ["tenant_id", "order_id"]
    prod = lines.loc[lines["is_product"].fillna(False).astype(bool), LINE_NEEDS[:-1]]
    prod = prod.merge(orders[[*key, "order_date"]], on=key, how="inner")
    units = prod.groupby(key, observed=True)["quantity"].sum().rename("order_units")
    head = orders[ORDER_NEEDS].merge(units.reset_index(), on=key, how="left")
    line_rows = pd.DataFrame({"order_date": prod["order_date"], "unit": "line"})
    for c in LINE_NUMERIC:
        line_rows[c] = pd.to_numeric(prod[c], errors="coerce").astype(float)
    order_rows = pd.DataFrame({"order_date": head["order_date"], "unit": "order",
                               "order_amount": head["total_amount"],
                               "order_lines": head["n_lines"], "order_units": head["order_units"]})
    for c in ORDER_NUMERIC:
        order_rows[c] = pd.to_numeric(order_rows[c], errors="coerce").astype(float)
    for c in CATEGORICAL:
        order_rows[c] = head[c].astype(object).where(head[c].notna(), "unknown").astype(str)
    out = pd.concat([line_rows, order_rows], ignore_index=True)
    out["order_date"] = pd.to_datetime(out["order_date"]).dt.normalize()
    return out[["order_date", "unit", *DRIFT_COLUMNS]]


#: Evidently tests whose score is a p-value (drift when score <= threshold); the others
#: are distances (drift when score >= threshold).
P_VALUE_TESTS = {"ks", "chisquare", "z", "t_test", "mannw", "anderson", "fisher_exact",
                 "cramer_von_mises", "g_test", "epps_singleton", "empirical_mmd"}


def _is_p_value(method: str) -> bool:
    return method in P_VALUE_TESTS or "p_value" in method.replace("-", "_").lower()


def _column_table(result: dict) -> pd.DataFrame:
    """Per-column rows from Evidently's result dict (``ValueDrift`` metrics)."""
    rows = []
    for m in result.get("metrics", []):
        cfg = m.get("config", {})
        if not str(cfg.get("type", "")).endswith("ValueDrift"):
            continue
        method, score = str(cfg.get("method", "")), float(m["value"])
        threshold = float(cfg.get("threshold"))
        drifted = score <= threshold if _is_p_value(method) else score >= threshold
        rows.append({"column": cfg.get("column"), "method": method, "score": score,
                     "threshold": threshold, "drifted": bool(drifted)})
    return pd.DataFrame(rows, columns=["column", "method", "score", "threshold", "drifted"])


def _evidently_report(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str],
                      threshold: float):
    """Evidently's ``DataDriftPreset`` snapshot of ``current`` against ``reference``."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=[c for c in columns if c in NUMERIC],
                                categorical_columns=[c for c in columns if c not in NUMERIC])

    def as_dataset(df: pd.DataFrame):
        return Dataset.from_pandas(df.reset_index(drop=True), data_definition=definition)

    preset = DataDriftPreset(columns=columns, num_method="ks", cat_method="chisquare",
                             threshold=threshold)
    return Report([preset]).run(as_dataset(current), as_dataset(reference))


def run_drift(reference: pd.DataFrame, current: pd.DataFrame,
              columns: list[str] | None = None, threshold: float = P_VALUE) -> ColumnDrift:
    """Compare ``current`` with ``reference`` column by column with ``DataDriftPreset``.

    Args:
        reference: Rows of the reference window (:func:`drift_rows`).
        current: Rows of the day.
        columns: Columns to compare (default :data:`DRIFT_COLUMNS`); columns constant in
            both frames or empty in either are skipped (no test applies).
        threshold: p-value below which a column counts as drifted.

    Raises:
        ValueError: ``reference`` or ``current`` is empty.
    """
    if reference.empty or current.empty:
        raise ValueError("drift needs rows in both the reference window and the current day")
    columns = [c for c in (columns or DRIFT_COLUMNS)
               if reference[c].notna().any() and current[c].notna().any()
               and pd.concat([reference[c], current[c]]).nunique() > 1]
    if not columns:
        return ColumnDrift(_column_table({}), 0.0, None)
    os.environ.setdefault("DO_NOT_TRACK", "1")
    with warnings.catch_warnings():  # Evidently's dependencies warn about their own deprecations
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        snapshot = _evidently_report(reference[columns], current[columns], columns, threshold)
    table = _column_table(snapshot.dict())
    share = float(table["drifted"].mean()) if len(table) else 0.0
    return ColumnDrift(table, share, snapshot)
