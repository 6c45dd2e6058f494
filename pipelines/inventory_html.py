"""Self-contained HTML of the inventory report: inline CSS, charts as base64 PNG, no assets.

Order: summary, prioritised purchase list, ABC/XYZ matrix, hot sellers and slow movers,
per-SKU charts (history, forecast with intervals, order-up-to level, projected stock),
exceptions. A small inline script counts the charts that decoded (``data-charts-loaded`` on
``<body>``) so a headless browser can check every chart is present.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

N_CHARTS = 8
RECENT = 28
CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{margin-bottom:4px}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ddd;border-radius:6px;
padding:10px 14px;min-width:170px}.card b{display:block;font-size:1.5em}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;
padding:3px 7px;text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}
.warn{color:#a40000}.tw{overflow-x:auto}.grid{display:flex;flex-wrap:wrap;gap:10px}img.chart{max-width:100%}"""
SCRIPT = """window.addEventListener('load',function(){var c=document.querySelectorAll('img.chart'),
n=0;c.forEach(function(i){if(i.complete&&i.naturalWidth>0){n++;}});
document.body.setAttribute('data-charts-loaded',String(n));});"""


def _png(fig: plt.Figure, name: str, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return (f'<img class="chart" data-chart="{html.escape(name)}" alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{data}">')


def _fmt(v: object, digits: int = 0) -> str:
    if isinstance(v, float | np.floating):
        if np.isnan(v):
            return "–"
        return "∞" if np.isinf(v) else f"{v:,.{digits}f}"
    return html.escape(str(v))


def _table(df: pd.DataFrame, cols: dict[str, int | None]) -> str:
    """HTML table; ``cols`` maps column → decimals (None = text, left-aligned)."""
    head = "".join(f'<th class="{"l" if d is None else ""}">{html.escape(c)}</th>'
                   for c, d in cols.items())
    rows = []
    for r in df.itertuples(index=False):
        cells = []
        for c, d in cols.items():
            v = getattr(r, c)
            cells.append(f'<td class="l">{_fmt(v)}</td>' if d is None
                         else f"<td>{_fmt(float(v) if v is not None else np.nan, d)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        rows = [f'<tr><td class="l" colspan="{len(cols)}">none</td></tr>']
    return f'<div class="tw"><table><tr>{head}</tr>{"".join(rows)}</table></div>'


def _summary(s: dict) -> str:
    fill = s["fill_rate_30d"]
    fill_txt = "–" if fill is None or np.isnan(fill) else f"{fill:.1%}"
    cards = [("SKU × warehouse to reorder now", f"{s['reorder_now']:,}"),
             ("value of orders to place", f"{s['order_value']:,.0f}"),
             ("value at risk of stock-out (lead time)", f"{s['value_at_risk']:,.0f}"),
             ("excess stock value (over order-up-to)", f"{s['excess_value']:,.0f}"),
             ("fill rate, last 30 days (estimate) vs target",
              f"{fill_txt} vs {s['target']:.0%}"),
             ("exceptions", f"{s['exceptions']:,}")]
    body = "".join(f'<div class="card">{html.escape(k)}<b>{v}</b></div>' for k, v in cards)
    return (f'<h2 id="summary">Summary</h2><div class="cards">{body}</div>'
            f"<p>{s['series']:,} SKU × warehouse series ({s['skus']:,} SKUs) as of "
            f"{html.escape(str(s.get('as_of')))}; stock counted "
            f"{html.escape(str(s['stock_date']))}, less the units sold since. Policy: "
            f"{html.escape(str(s.get('policy', '')))}. Order-up-to levels from: "
            f"{html.escape(str(s.get('period_forecast', 'daily forecast samples')))}. "
            f"Daily forecast (charts, stock-out risk within the lead time): "
            f"{html.escape(str(s['forecast_source']))}. Fill rate estimate: demand-weighted "
            "share of stock counts above zero (the lake records no lost sales). Service level "
            "= fill rate target. Reorder point = S − 1: a review orders when stock + on order "
            "is below S.</p>")


def _matrix(t: pd.DataFrame) -> str:
    ok = t[t["abc"].notna()]
    counts = pd.crosstab(ok["abc"], ok["xyz"]).reindex(index=list("ABC"), columns=list("XYZ"),
                                                       fill_value=0)
    value = ok.pivot_table(index="abc", columns="xyz", values="revenue", aggfunc="sum")
    value = value.reindex(index=list("ABC"), columns=list("XYZ")).fillna(0)
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    ax.imshow(counts.to_numpy(), cmap="Blues")
    for (i, j), n in np.ndenumerate(counts.to_numpy()):
        ax.text(j, i, f"{n}\n{value.iat[i, j]:,.0f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(3), list("XYZ"))
    ax.set_yticks(range(3), list("ABC"))
    ax.set_xlabel("XYZ (weekly demand CV < 0.5 / < 1 / ≥ 1)")
    ax.set_ylabel("ABC (revenue 80 / 15 / 5 %)")
    img = _png(fig, "abc-xyz", "ABC/XYZ matrix: series count and yearly revenue per cell")
    return (f'<h2 id="abc-xyz">ABC / XYZ matrix</h2>{img}<p>Cells: number of SKU × warehouse '
            "series and their revenue over the last year.</p>")


def _movers(t: pd.DataFrame, hist: pd.DataFrame) -> str:
    end = hist["ds"].max()
    age = (end - hist["ds"]).dt.days
    last = hist[age < RECENT].groupby("unique_id")["y"].sum()
    prev = hist[(age >= RECENT) & (age < 2 * RECENT)].groupby("unique_id")["y"].sum()
    m = t.assign(units_28d=t["unique_id"].map(last).fillna(0),
                 prev_28d=t["unique_id"].map(prev).fillna(0))
    m["growth"] = (m["units_28d"] + 1) / (m["prev_28d"] + 1) - 1
    hot = m[m["units_28d"] > 0].sort_values("growth", ascending=False).head(10)
    slow = m[(m["on_hand"] > 0) & ((m["days_of_cover"] > 90) | (m["units_28d"] == 0))]
    slow = slow.sort_values("excess_value", ascending=False).head(10)
    cols = {"sku": None, "warehouse_id": None, "units_28d": 0, "prev_28d": 0, "growth": 2,
            "days_of_cover": 0, "on_hand": 0, "excess_value": 0}
    return ('<h2 id="movers">Hot sellers and slow movers</h2><h3>Hot sellers (units, last 28 '
            f"days vs the 28 before)</h3>{_table(hot, cols)}<h3>Slow movers (over 90 days of "
            f"cover or no sale in 28 days, by excess value)</h3>{_table(slow, cols)}")


def _sku_chart(row: pd.Series, hist: pd.DataFrame, fc: pd.DataFrame) -> str:
    """Top: sales history and forecast with intervals. Bottom: projected stock vs S."""
    h = hist[hist["unique_id"] == row["unique_id"]].tail(90)
    f = fc[fc["unique_id"] == row["unique_id"]].sort_values("ds")
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(5.6, 3.6), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 2]})
    ax.plot(h["ds"], h["y"], color="#555", lw=0.8, label="sales")
    for lv, a in ((95, 0.15), (80, 0.3)):
        if f"yhat-lo-{lv}" in f:
            ax.fill_between(f["ds"], f[f"yhat-lo-{lv}"], f[f"yhat-hi-{lv}"], alpha=a,
                            color="tab:blue", lw=0, label=f"{lv} % interval")
    ax.plot(f["ds"], f["yhat"], color="tab:blue", lw=1.2, label="forecast")
    ax.set_title(f"{row['sku']} @ {row['warehouse_id']}", fontsize=9)
    ax.set_ylabel("units / day", fontsize=7)
    ax.legend(loc="upper left", fontsize=6)
    lead = int(row["lead_time_days"]) if np.isfinite(row["lead_time_days"]) else 0
    arrive = np.arange(len(f)) >= lead  # today's order is on the shelf from day L + 1
    stock = row["on_hand"] + row["on_order"] - f["yhat"].cumsum().to_numpy() \
        + np.where(arrive, row["order_quantity"], 0)
    ax2.plot(f["ds"], np.clip(stock, 0, None), color="tab:green", lw=1.2,
             label="projected stock (order now)")
    ax2.axhline(row["order_up_to"], color="tab:red", ls="--", lw=1,
                label=f"order-up-to S (review every {int(row['review_days'])} d)")
    ax2.set_ylim(bottom=0)
    ax2.set_ylabel("units", fontsize=7)
    ax2.legend(loc="upper right", fontsize=6)
    for a in (ax, ax2):
        a.tick_params(labelsize=7)
    fig.autofmt_xdate()
    uid = row["unique_id"]
    return _png(fig, f"sku-{uid}", f"history, forecast and stock of {uid}")


def render_html(rep: object, tenant: str) -> str:
    """The report as one HTML string (no external references)."""
    t, s = rep.table, rep.summary
    buy = t[t["reorder_now"]].head(50)
    buy_cols = {"priority": 0, "sku": None, "warehouse_id": None, "abc": None, "xyz": None,
                "review_days": 0, "on_hand": 0, "order_up_to": 0, "order_quantity": 0,
                "order_value": 0, "stockout_probability": 2, "value_at_risk": 0,
                "days_of_cover": 1}
    top = t[t["method"] != "none"].head(N_CHARTS)
    charts = "".join(_sku_chart(r, rep.history, rep.forecast) for _, r in top.iterrows())
    exc = t[t["exception"].fillna("") != ""]
    wh = s.get("warehouses_without_stock", [])
    wh_txt = ("".join(f'<li class="warn">warehouse {html.escape(w)} has no stock record</li>'
                      for w in wh) or "<li>every warehouse has stock records</li>")
    parts = [f"<h1>Inventory recommendations — tenant {html.escape(tenant)}</h1>", _summary(s),
             f'<h2 id="purchase">Purchase list (priority order)</h2>{_table(buy, buy_cols)}',
             _matrix(t), _movers(t, rep.history),
             f'<h2 id="charts">Per-SKU charts</h2><div class="grid">{charts}</div>',
             f'<h2 id="exceptions">Exceptions ({len(exc)})</h2><ul>{wh_txt}</ul>'
             + _table(exc, {"sku": None, "warehouse_id": None, "exception": None})]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Inventory report — {html.escape(tenant)}</title><style>{CSS}</style>"
            f"<script>{SCRIPT}</script></head><body data-charts-expected=\"{len(top) + 1}\">"
            + "".join(parts) + "</body></html>")
