"""The order generator: contract-valid, deterministic, streamed, and with learnable structure."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from oms.contract import CHANNELS, TABLES
from oms.lake import read_table, table_uri
from oms.validate import validate_frame
from pipelines.generate import (
    SCALES,
    TRUTH_SNAPSHOTS,
    GenerateReport,
    generate,
    true_churn_probability,
)

SEED = 11


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[GenerateReport, dict[str, pd.DataFrame]]:
    """One full tiny dataset (400 days from 2023-01-01), read back from the lake."""
    out = tmp_path_factory.mktemp("tiny")
    report = generate("tiny", SEED, str(out))
    frames = {t: read_table(table_uri(out, t)) for t in TABLES}
    frames[TRUTH_SNAPSHOTS] = read_table(table_uri(out, TRUTH_SNAPSHOTS))
    return report, frames


def _daily(frames) -> pd.DataFrame:
    """Orders per day with that day's calendar context (national max over regions)."""
    counts = frames["orders"].groupby("order_date").size().rename("orders")
    ctx = frames["daily_context"].groupby("date").agg(
        intensity=("promotion_intensity", "max"), holiday=("holiday_name", "first"))
    return ctx.join(counts, how="left").fillna({"orders": 0})


def _digest(df: pd.DataFrame, key: list[str]) -> str:
    df = df.sort_values(key).reset_index(drop=True)
    return hashlib.sha256(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()
                          ).hexdigest()


def _digests(out: Path) -> dict[str, str]:
    return {t: _digest(read_table(table_uri(out, t)), list(spec.primary_key))
            for t, spec in TABLES.items()}


def test_every_table_is_valid_under_the_contract(tiny):
    report, frames = tiny
    for table in TABLES:
        res = validate_frame(frames[table], table, source=f"tiny/{table}")
        assert len(res.quarantine) == 0, res.quarantine["_reason"].value_counts().head()
        assert len(res.valid) == report.rows[table] > 0
    assert report.rows["order_lines"] > report.rows["orders"] > 20_000
    assert report.peak_rss_mb > 0 and report.seconds > 0


def test_same_seed_same_data_other_seed_differs(tmp_path):
    runs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate("tiny", seed, str(tmp_path / name), days=45)
        runs[name] = _digests(tmp_path / name)
    assert runs["a"] == runs["b"]
    differs = [t for t in TABLES if runs["a"][t] != runs["c"][t]]
    assert {"orders", "order_lines", "order_events", "customers"} <= set(differs)


def test_weekly_pattern(tiny):
    d = _daily(tiny[1])
    plain = d[(d.intensity == 0) & d.holiday.isna()]
    by_dow = plain.groupby(plain.index.dayofweek)["orders"].mean()
    assert by_dow.max() / by_dow.min() > 1.12
    assert by_dow.loc[[5, 6]].mean() > by_dow.loc[[0, 1]].mean()  # weekend above Mon/Tue


def test_double_11_spike_and_promotions_lift(tiny):
    d = _daily(tiny[1])
    median = d["orders"].median()
    assert d.loc["2023-11-11", "orders"] > 3 * median
    assert d.loc["2023-06-18", "orders"] > 1.8 * median
    plain = d[d.holiday.isna()]
    assert plain[plain.intensity > 0]["orders"].mean() > 1.25 * plain[plain.intensity == 0][
        "orders"].mean()


def test_spring_festival_dip(tiny):
    d = _daily(tiny[1])
    cny = d.loc["2023-01-21":"2023-01-25", "orders"]  # Chinese New Year 2023-01-22
    assert cny.mean() < 0.6 * d["orders"].median()
    assert (d.loc["2023-01-15":"2023-01-31", "holiday"] == "Spring Festival").all()


def test_channels_shift_with_festivals(tiny):
    o = tiny[1]["orders"]
    assert set(o["channel"]) <= set(CHANNELS) and o["channel"].nunique() == 6
    d11 = o[o["order_date"] == "2023-11-11"]
    assert (d11["channel"] == "tmall").mean() > 1.5 * (o["channel"] == "tmall").mean()
    guests = o[o["is_guest"]]
    assert 0.03 < len(guests) / len(o) < 0.08 and guests["customer_id"].isna().all()


def test_zipf_concentration(tiny):
    lines = tiny[1]["order_lines"]
    units = lines[lines["is_product"]].groupby("sku")["quantity"].sum().sort_values()[::-1]
    top = units.iloc[: len(units) // 5].sum() / units.sum()
    assert top > 0.65
    assert (~lines["is_product"]).any()  # shipping fees are lines but not demand


def test_events_are_consistent_with_orders(tiny):
    frames = tiny[1]
    o, ev = frames["orders"], frames["order_events"]
    created = ev[ev["event_type"] == "OrderCreated"].set_index("order_id")["event_ts"]
    assert created.reindex(o["order_id"]).to_numpy().tolist() == o["order_ts"].tolist()
    ev = ev.sort_values(["order_id", "event_id"])
    step = ev.groupby("order_id")["event_ts"].diff().dropna()
    assert (step >= pd.Timedelta(0)).all()  # life-cycle order == time order
    for status, event in (("delivered", "Delivered"), ("returned", "Returned"),
                          ("cancelled", "Cancelled")):
        ids = set(o.loc[o["status"] == status, "order_id"])
        assert ids and ids <= set(ev.loc[ev["event_type"] == event, "order_id"])
    delivered = o[o["delivery_hours"].notna()]
    assert (delivered["is_late"] == (delivered["delivery_hours"] > delivered["promised_hours"])
            ).all()


def test_late_deliveries_raise_churn(tiny):
    """Customers with a late delivery last month survive the next month less often."""
    frames = tiny[1]
    snap = frames[TRUTH_SNAPSHOTS].sort_values(["customer_id", "snapshot_date"])
    snap["next_alive"] = snap.groupby("customer_id")["alive"].shift(-1)
    o = frames["orders"].dropna(subset=["customer_id", "is_late"])
    month = o["order_date"].dt.to_period("M").dt.to_timestamp() + pd.offsets.MonthBegin(1)
    late = o.assign(snapshot_date=month).groupby(["customer_id", "snapshot_date"])[
        "is_late"].max().rename("had_late").reset_index()
    x = snap.merge(late, on=["customer_id", "snapshot_date"])
    x = x[x["alive"] & x["next_alive"].notna()]
    survival = x.groupby("had_late")["next_alive"].mean()
    assert survival[True] < survival[False] - 0.08, survival


def test_truth_probability_predicts_churn(tiny):
    frames = tiny[1]
    cutoff = pd.Timestamp("2023-10-01")
    o = frames["orders"].dropna(subset=["customer_id"])
    seen = o.loc[o["order_date"] < cutoff, "customer_id"].unique()
    future = o[(o["order_date"] >= cutoff) & (o["order_date"] < cutoff + pd.Timedelta(days=90))]
    label = pd.Series(~pd.Index(seen).isin(future["customer_id"]), index=seen)
    p = true_churn_probability(frames[TRUTH_SNAPSHOTS], cutoff, 90).reindex(seen)
    assert p.between(0, 1).all()
    snap = frames[TRUTH_SNAPSHOTS]
    dead = snap[(snap["snapshot_date"] == cutoff) & ~snap["alive"]]["customer_id"]
    assert (p.reindex(dead).dropna() == 1.0).all()
    assert roc_auc_score(label.astype(int), p) > 0.85


def test_streamed_in_month_chunks_with_bounded_memory(tiny, tmp_path):
    report, frames = tiny
    assert report.chunks == 14  # 400 days from 2023-01-01 span 14 calendar months
    out = Path(report.out)
    for table in ("orders", "order_lines", "daily_context"):
        parts = sorted(out.glob(f"{table}/month=*"))
        assert len(parts) == 14
        assert all(len(list(p.glob("*.parquet"))) == 1 for p in parts)  # one file per chunk
    short = generate("tiny", SEED, str(tmp_path / "short"), days=60)
    long = generate("tiny", SEED, str(tmp_path / "long"), days=240)
    assert long.rows["orders"] > 3 * short.rows["orders"]
    assert long.peak_rss_mb < short.peak_rss_mb + 60  # memory does not grow with days


def test_inventory_depletes_and_is_replenished(tiny):
    inv = tiny[1]["inventory"].sort_values(["warehouse_id", "sku", "snapshot_date"])
    assert (inv["on_hand"] >= 0).all()
    change = inv.groupby(["warehouse_id", "sku"])["on_hand"].diff().dropna()
    assert (change < 0).mean() > 0.3 and (change > 0).mean() > 0.05
    assert set(inv["snapshot_date"].dt.dayofweek) == {0}  # weekly, on Mondays
    wh = tiny[1]["warehouses"]
    assert len(wh) == SCALES["tiny"].n_warehouses and (wh["capacity_per_day"] > 0).all()


def test_bad_arguments_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown scale"):
        generate("huge", 1, str(tmp_path))
    with pytest.raises(ValueError, match="future"):
        generate("tiny", 1, str(tmp_path), start="2100-01-01", days=10)
    with pytest.raises(ValueError, match="days"):
        generate("tiny", 1, str(tmp_path), days=0)
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_cli_generate(tmp_path):
    from flows.cli import app

    out = tmp_path / "landing"
    res = CliRunner().invoke(app, ["generate", "--scale", "tiny", "--days", "20", "--seed", "3",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "order_lines" in res.output and "peak RSS" in res.output
    orders = read_table(table_uri(out, "orders"))
    assert orders["order_date"].nunique() == 20
    bad = CliRunner().invoke(app, ["generate", "--scale", "tiny", "--start", "2100-01-01",
                                   "--out", str(out)])
    assert bad.exit_code == 2 and "future" in bad.output


def test_calendar_has_chinese_western_and_festival_days(tiny):
    ctx = tiny[1]["daily_context"]
    names = set(ctx["holiday_name"].dropna())
    assert {"Spring Festival", "National Day", "Labor Day", "Christmas Day", "Black Friday",
            "618", "Double 11", "Double 12"} <= names
    assert ctx.groupby("date")["region"].nunique().eq(SCALES["tiny"].n_regions).all()
    promos = set(ctx["promotion_name"].dropna())
    assert {"Double 11", "618", "Flash Sale"} <= promos
    assert ctx["promotion_intensity"].between(0, 1).all()


def test_weather_moves_channels_and_delivery(tiny):
    frames = tiny[1]
    ctx = frames["daily_context"]
    x = frames["orders"].merge(ctx[ctx["holiday_name"].isna()],
                               left_on=["order_date", "region"], right_on=["date", "region"])
    by = x.groupby("weather").agg(
        pos=("channel", lambda s: (s == "pos").mean()),
        app=("channel", lambda s: (s == "app").mean()),
        hours=("delivery_hours", "median"))
    fair = ["sunny", "cloudy"]
    assert by.loc["storm", "pos"] < 0.75 * by.loc[fair, "pos"].mean()
    assert by.loc["rain", "app"] > by.loc[fair, "app"].mean()
    assert by.loc["storm", "hours"] > by.loc[fair, "hours"].mean() + 4


def test_true_churn_probability_formula():
    snaps = pd.DataFrame({
        "customer_id": ["a", "b", "a", "c"],
        "snapshot_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-02-01", "2024-03-01"]),
        "alive": [True, False, True, True],
        "purchase_rate_per_day": [0.05, 0.05, 0.1, 0.2],
        "churn_hazard_per_day": [0.01, 0.01, 0.02, 0.0],
    })
    p = true_churn_probability(snaps, "2024-02-15", 90)
    assert set(p.index) == {"a", "b"}  # c has no snapshot yet
    assert p["b"] == 1.0  # dead
    lam, h = 0.1, 0.02  # a's February snapshot is the one in force
    assert p["a"] == pytest.approx(1 - lam / (lam + h) * (1 - np.exp(-(lam + h) * 90)))
    with pytest.raises(ValueError, match="no customer snapshot"):
        true_churn_probability(snaps, "2023-12-01", 90)
