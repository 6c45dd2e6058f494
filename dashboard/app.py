"""The Streamlit pages of ``oms-ml dashboard`` (thin: every number comes from a data function).

Started by :mod:`dashboard.server` as ``streamlit run dashboard/app.py``; the lake, outputs
and tracking store come from the settings (``OMS_ML_*`` environment variables the server
sets), the default tenant from ``OMS_ML_TENANT_ID``. Something not produced yet is said in a
sentence (``st.info``) instead of an exception or an empty chart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import customers, forecasts, models_view, monitoring, operations, routing
from dashboard.data import NoData, Sources, tenants

CACHE_SECONDS = 60
#: Fractions shown as percentages in tables.
PERCENT = {c: st.column_config.NumberColumn(format="percent") for c in (
    "orders_change", "gmv_change", "late_delivery_rate", "return_rate", "wape", "coverage_80",
    "coverage_95", "customer_share", "revenue_share")}


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _cached(fn_name: str, lake: str, outputs: str, uri: str, *args: Any) -> Any:
    """Run one data function (by ``module.name``) on a source, cached for a minute."""
    module, name = fn_name.rsplit(".", 1)
    mod = {"operations": operations, "forecasts": forecasts, "customers": customers,
           "models_view": models_view, "routing": routing, "monitoring": monitoring}[module]
    return getattr(mod, name)(Sources(lake, outputs, uri), *args)


def load(fn_name: str, *args: Any) -> Any:
    """A cached data call with the session's sources (``NoData`` passes through)."""
    src: Sources = st.session_state["src"]
    return _cached(fn_name, src.lake, src.outputs, src.tracking_uri, *args)


def shown(title: str, build: Callable[[], None]) -> bool:
    """A sub-header, then ``build()``; a ``NoData`` becomes its sentence. True if built."""
    if title:
        st.subheader(title)
    try:
        build()
    except NoData as e:
        st.info(str(e))
        return False
    return True


def chart(c: alt.Chart) -> None:
    """An Altair chart at full width."""
    st.altair_chart(c, width="stretch")


def tenant() -> str:
    """The tenant chosen in the sidebar."""
    return st.session_state["tenant"]


# --- operations ---------------------------------------------------------------------------

def _kpi_cards(k: pd.DataFrame) -> None:
    week = k[k["compared_with"] == "same day last week"]
    cols = st.columns(len(week) * 2)
    for i, row in enumerate(week.itertuples()):
        for j, (what, fmt) in enumerate((("orders", "{:,.0f}"), ("gmv", "{:,.2f}"))):
            change = getattr(row, f"{what}_change")
            delta = None if pd.isna(change) else f"{change:+.1%} vs last week"
            cols[2 * i + j].metric(f"{what.upper()} {row.period}",
                                   fmt.format(getattr(row, what)), delta)


def operations_page() -> None:
    """Orders and GMV now, top products, regions and channels, service rates, risk."""
    st.title(f"Operations · {tenant()}")

    def body() -> None:
        orders = load("operations.load_orders", tenant())
        k = operations.kpis(orders)
        _kpi_cards(k)
        st.dataframe(k, hide_index=True, column_config=PERCENT)
        rc = operations.region_channel(orders)
        st.subheader("Orders by region and channel (last 30 days)")
        chart(alt.Chart(rc).mark_bar().encode(
            x=alt.X("region:N", sort="-y"), y="orders:Q", color="channel:N",
            tooltip=["region", "channel", "orders"]))
        last = orders["order_date"].max()
        lines = load("operations.load_lines", tenant())
        products = load("operations.load_products", tenant())
        shown("Top 10 products (last 7 days, by revenue)", lambda: st.dataframe(
            operations.top_products(lines, products, last), hide_index=True))
        st.subheader("Late deliveries and returns")
        st.dataframe(operations.service_rates(orders), hide_index=True, column_config=PERCENT)

    shown("", body)
    shown("Abnormal orders", lambda: st.dataframe(
        load("operations.abnormal_orders", tenant()), hide_index=True))


# --- forecasts ----------------------------------------------------------------------------

def _band_chart(df: pd.DataFrame, y_title: str) -> alt.LayerChart:
    base = alt.Chart(df).encode(x=alt.X("ds:T", title="day"))
    layers = []
    for lvl, opacity in ((95, 0.15), (80, 0.3)):
        if f"yhat-lo-{lvl}" in df.columns:
            layers.append(base.mark_area(opacity=opacity, color="#4c78a8").encode(
                y=alt.Y(f"yhat-lo-{lvl}:Q", title=y_title), y2=f"yhat-hi-{lvl}:Q"))
    layers.append(base.mark_line(color="#4c78a8").encode(y="yhat:Q"))
    layers.append(base.mark_line(color="black", point=alt.OverlayMarkDef(color="black"))
                  .encode(y="y:Q"))
    return alt.layer(*layers)


def _accuracy_line(joined: pd.DataFrame) -> None:
    acc = forecasts.accuracy(joined)
    cov = ", ".join(f"{lvl} % interval held {acc[f'coverage_{lvl}']:.0%}"
                    for lvl in (80, 95) if f"coverage_{lvl}" in acc)
    st.write(f"Arrived forecast days: {acc['days']} (waiting: {acc['waiting']}); "
             f"WAPE {acc['wape']:.1%}; {cov}.")


def _sku_section() -> None:
    fc = load("forecasts.sku_forecast", tenant())
    try:
        inv = load("forecasts.inventory", tenant())
    except NoData:
        inv = None
    skus = sorted(fc["unique_id"].astype(str).unique())
    sku = st.selectbox("SKU", skus, index=skus.index(forecasts.default_sku(fc, inv)),
                       help="Type to search")
    joined = load("forecasts.sku_view", tenant(), sku, fc)
    chart(_band_chart(joined, "units"))
    shown("", lambda: _accuracy_line(joined))

    def stock() -> None:
        if inv is None:
            load("forecasts.inventory", tenant())  # raises its NoData sentence
        proj = forecasts.stock_projection(inv, sku, fc)
        long = proj.melt("ds", var_name="line", value_name="units")
        chart(alt.Chart(long).mark_line().encode(x=alt.X("ds:T", title="day"), y="units:Q",
                                                 color="line:N"))
        st.dataframe(inv[inv["sku"].astype(str) == sku], hide_index=True)

    shown("Reorder point and stock projection", stock)


def forecasts_page() -> None:
    """Order volume with intervals vs actuals; one SKU's forecast and stock projection."""
    st.title(f"Forecasts · {tenant()}")

    def volume() -> None:
        joined = load("forecasts.volume", tenant())
        chart(_band_chart(joined, "orders per day"))
        st.caption("Black: actual orders per day; blue line: forecast; bands: 80 % and 95 % "
                   "intervals.")
        shown("", lambda: _accuracy_line(joined))

    shown("Order volume", volume)
    shown("SKU forecast", _sku_section)


# --- customers ----------------------------------------------------------------------------

def customers_page() -> None:
    """RFM segments, churn-probability distribution, planned retention actions."""
    st.title(f"Customers · {tenant()}")

    def seg() -> None:
        s = load("customers.segments", tenant())
        for col, measure in zip(st.columns(2), ("customers", "revenue"), strict=True):
            with col:
                chart(alt.Chart(s).mark_bar().encode(
                    x=alt.X("segment:N", sort=None, title=None), y=f"{measure}:Q",
                    tooltip=list(s.columns)))
        st.dataframe(s, hide_index=True, column_config=PERCENT)

    def churn() -> None:
        scored = load("customers.scores", tenant())
        hist = customers.churn_histogram(scored)
        chart(alt.Chart(hist).mark_bar().encode(
            x=alt.X("bin_start:Q", bin="binned", title="churn probability"), x2="bin_end:Q",
            y="customers:Q"))
        st.subheader("Retention actions planned")
        st.dataframe(customers.retention_actions(scored), hide_index=True)

    shown("RFM segments", seg)
    shown("Churn probability", churn)


# --- routing ------------------------------------------------------------------------------

def routing_page() -> None:
    """The router's policy comparison and the last rerouting report."""
    st.title(f"Routing · {tenant()}")

    def policies() -> None:
        t = load("routing.policy_comparison", tenant())
        chart(alt.Chart(t).mark_bar().encode(x=alt.X("policy:N", sort=None), y="reward:Q",
                                             tooltip=list(t.columns)))
        st.dataframe(t, hide_index=True)

    def reroute() -> None:
        summary, moves = load("routing.reroute_report", tenant())
        st.write(", ".join(f"{k.replace('_', ' ')}: {v:,.2f}" if isinstance(v, float)
                           else f"{k.replace('_', ' ')}: {v:,}" for k, v in summary.items()))
        if moves.empty:
            st.info("The last rerouting run moved no order.")
        else:
            chart(alt.Chart(moves).mark_bar().encode(
                x="old_warehouse_id:N", y="orders:Q", color="new_warehouse_id:N"))

    shown("Policy comparison (champion router's gate episodes)", policies)
    shown("Last rerouting report", reroute)


# --- models and monitoring ----------------------------------------------------------------

def models_page() -> None:
    """Every registered model of the tenant: champion, promotion time, gate metric."""
    st.title(f"Models · {tenant()}")

    def body() -> None:
        everyone = st.toggle("Every tenant's models", value=False)
        m = load("models_view.registered_models", None if everyone else tenant())
        v = load("models_view.versions", tenant())
        st.caption("Every registered version by registration time; the gate moves the "
                   "champion alias as a version is registered.")
        chart(alt.Chart(v).mark_point(size=120, filled=True).encode(
            x=alt.X("registered_at:T", title="registered"), y=alt.Y("model:N", title=None),
            color=alt.Color("role:N", scale=alt.Scale(
                domain=["champion", "challenger", "retired"],
                range=["#2ca02c", "#ff7f0e", "#9e9e9e"])),
            tooltip=["model", "version", "role", "gate", "registered_at"]))
        st.dataframe(m, hide_index=True)
        missing = m[m["champion"] == "none yet"]
        for name in missing["model"]:
            st.info(f"{name} has no champion yet: no version has passed the gate.")

    shown("Registered models", body)


def monitoring_page() -> None:
    """Drift summary, alerts and forecast-vs-actual, if the monitoring step has run."""
    st.title(f"Monitoring · {tenant()}")

    def drift() -> None:
        rep, d = load("monitoring.drift", tenant())
        share = rep.get("drift_share")
        st.write(f"Day {rep.get('run_date')}: "
                 + (f"{share:.0%} of the compared columns drifted." if share is not None
                    else "drift share not recorded."))
        for line in rep.get("alerts") or []:
            st.warning(line)
        base = alt.Chart(d).encode(y=alt.Y("column:N", title=None))
        chart(base.mark_bar().encode(
            x=alt.X("score:Q", title="test score (black tick: its drift threshold)"),
            color=alt.Color("drifted:N", scale=alt.Scale(domain=[False, True],
                                                         range=["#9e9e9e", "#d62728"])),
            tooltip=list(d.columns))
            + base.mark_tick(color="black", thickness=2).encode(x="threshold:Q"))
        st.dataframe(d, hide_index=True)

    def accuracy() -> None:
        a = load("monitoring.forecast_vs_actual", tenant())
        st.dataframe(a, hide_index=True, column_config=PERCENT)

    shown("Data drift (latest monitored day)", drift)
    shown("Forecast vs actual (per model version)", accuracy)


PAGES = [(operations_page, "Operations", "operations"), (forecasts_page, "Forecasts", "forecasts"),
         (customers_page, "Customers", "customers"), (routing_page, "Routing", "routing"),
         (models_page, "Models", "models"), (monitoring_page, "Monitoring", "monitoring")]


def main() -> None:
    """Sidebar (tenant), navigation, then the chosen page."""
    import os

    st.set_page_config(page_title="oms-ml dashboard", layout="wide")
    src = Sources.from_settings()
    st.session_state["src"] = src
    known = tenants(src)
    default = os.environ.get("OMS_ML_TENANT_ID", "demo")
    options = known if default in known else [default, *known]
    chosen = st.query_params.get("tenant", default)
    st.session_state["tenant"] = st.sidebar.selectbox(
        "Tenant", options, index=options.index(chosen) if chosen in options else 0)
    if not known:
        st.sidebar.info(f"The lake at {src.lake} is empty: no tenant has orders yet.")
    nav = st.navigation([st.Page(fn, title=title, url_path=path, default=i == 0)
                         for i, (fn, title, path) in enumerate(PAGES)])
    nav.run()


main()
