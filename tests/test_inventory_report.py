"""The inventory report: pipeline on a tiny generated lake, the CLI, the champion path, and
the HTML in headless Chromium (marked ``browser``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from models.inventory import InventoryPolicy
from oms.lake import read_table, table_uri, write_table
from pipelines.generate import generate
from pipelines.ingest import ingest
from pipelines.inventory_report import build_inventory_report, compute_report

TABLES = ["orders", "order_lines", "products", "warehouses", "inventory"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("inv")
    generate("tiny", 11, str(root / "landing"), days=150)
    ingest(str(root / "landing"), str(root / "lake"), str(root / "q"), tables=TABLES,
           now=pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=3650))
    return str(root / "lake")


@pytest.fixture(scope="module")
def bad_lake(lake, tmp_path_factory) -> str:
    """The tiny lake with one warehouse at lead time 0, one warehouse without stock, the best
    seller at unit cost 0, the second at a negative cost and a stocked SKU never sold."""
    from pipelines.inventory_data import top_skus

    root = tmp_path_factory.mktemp("bad") / "lake"
    shutil.copytree(lake, root)
    wh = read_table(table_uri(str(root), "warehouses"), table="warehouses")
    wh.loc[0, "lead_time_days"] = 0
    extra = wh.iloc[[1]].assign(warehouse_id="WH-EMPTY", name="Empty DC")
    prods = read_table(table_uri(str(root), "products"), table="products")
    first, second = top_skus(read_table(table_uri(str(root), "order_lines")), 2)
    prods.loc[prods["sku"] == first, "unit_cost"] = 0.0
    prods.loc[prods["sku"] == second, "unit_cost"] = -3.0
    prods = pd.concat([prods, prods.iloc[[0]].assign(sku="SKU-NOSALE", name="never sold")],
                      ignore_index=True)
    inv = read_table(table_uri(str(root), "inventory"), table="inventory")
    last = inv[inv["snapshot_date"] == inv["snapshot_date"].max()].iloc[[0]]
    inv = pd.concat([inv, last.assign(sku="SKU-NOSALE", on_hand=5)], ignore_index=True)
    new = {"warehouses": pd.concat([wh, extra], ignore_index=True), "products": prods,
           "inventory": inv}
    from oms.versions import Transaction

    with Transaction(str(root), run="test") as txn:  # the lake is versioned: publish a version
        for t, df in new.items():
            write_table(df, txn.path(t), t)
        for t in txn.base_tables():
            if t not in new:
                txn.carry(t)
        txn.commit()
    return str(root)


@pytest.fixture(scope="module")
def report(lake, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    return build_inventory_report(lake=lake, tenant="demo", out=str(out), top_n=12,
                                  log_mlflow=False)


def test_report_files_and_table(report):
    t = pd.read_parquet(report.paths["parquet"])
    csv = pd.read_csv(report.paths["csv"])
    assert len(t) == len(csv) == report.summary["series"] > 0
    assert t["unique_id"].is_unique and set(t["abc"].dropna()) <= set("ABC")
    reorder = t[t["reorder_now"]]
    assert (reorder["order_quantity"] > 0).all()
    assert reorder["priority"].tolist() == list(range(1, len(reorder) + 1))
    assert report.summary["reorder_now"] == len(reorder)
    assert "seasonal naive" in report.summary["forecast_source"]  # no champion registered
    # the order-up-to levels come from the lead-time-demand quantile model (L + R days)
    assert report.summary["period_forecast"].startswith("LeadTimeDemandGBM")
    ok = t[t["method"] != "none"]
    assert (ok["method"] == "period_quantiles").all() and len(ok) > 0
    assert (ok["protection_days"] == ok["lead_time_days"].fillna(7) + ok["review_days"]).all()
    assert ok["review_days"].between(1, 7).all()
    assert not any(p.name.startswith(".") for p in
                   __import__("pathlib").Path(report.paths["html"]).parent.iterdir())


def test_daily_batch_entry_point_writes_through_outputs(lake, tmp_path):
    """The flow's step: no champion registered, outputs under the tenant's partition."""
    from oms.outputs import read_output
    from pipelines.inventory_report import run_inventory_report

    s = run_inventory_report(lake=lake, tenant="demo", out=str(tmp_path), run_date="2024-05-01",
                             top_n=6, log_mlflow=False)
    assert "seasonal naive" in s["forecast_source"] and s["series"] > 0
    base = tmp_path / "inventory_recommendations" / "demo"
    assert s["paths"]["parquet"] == str(base / "inventory_recommendations.parquet")
    assert s["paths"]["dated"] == str(base / "inventory_recommendations-2024-05-01.parquet")
    assert {p.name for p in base.iterdir()} == {
        "inventory_recommendations.parquet", "inventory_recommendations-2024-05-01.parquet",
        "recommendations.csv", "report.html"}
    t = read_output("inventory_recommendations", root=str(tmp_path))
    assert len(t) == s["series"] and set(t["tenant_id"]) == {"demo"}
    import json

    json.dumps(s)  # JSON-able: a Prefect task can return it as is


def test_html_is_self_contained_with_every_section(report):
    html = open(report.paths["html"], encoding="utf-8").read()
    for section in ("summary", "purchase", "abc-xyz", "movers", "charts", "exceptions"):
        assert f'id="{section}"' in html
    assert html.index('id="summary"') < html.index('id="purchase"')
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no external assets
    expected = int(re.search(r'data-charts-expected="(\d+)"', html).group(1))
    assert html.count('<img class="chart"') == expected >= 2


def test_bad_input_is_listed_in_exceptions(bad_lake, tmp_path):
    rep = build_inventory_report(lake=bad_lake, tenant="demo", out=str(tmp_path), top_n=12,
                                 log_mlflow=False)
    t = rep.table
    wh0 = read_table(table_uri(bad_lake, "warehouses"))["warehouse_id"].iloc[0]
    zero = t[t["warehouse_id"] == wh0]
    assert len(zero) and zero["exception"].str.contains("lead time is 0 days").all()
    assert rep.summary["warehouses_without_stock"] == ["WH-EMPTY"]
    html = open(rep.paths["html"], encoding="utf-8").read()
    assert "warehouse WH-EMPTY has no stock record" in html
    assert "lead time is 0 days" in html
    from pipelines.inventory_data import top_skus

    first, second = top_skus(read_table(table_uri(bad_lake, "order_lines")), 2)
    by_sku = t.groupby("sku")["exception"].agg(" | ".join)
    assert "unit cost 0 is not > 0" in by_sku[first]
    assert "unit cost -3 is not > 0" in by_sku[second]
    assert "no sales history" in by_sku["SKU-NOSALE"]
    nosale = t[t["sku"] == "SKU-NOSALE"]
    assert len(nosale) == 1 and (nosale["method"] == "none").all()  # listed, not dropped
    for msg in ("unit cost 0 is not &gt; 0", "unit cost -3 is not &gt; 0", "no sales history",
                "SKU-NOSALE"):
        assert msg in html.split('id="exceptions"')[1], msg
    with pytest.raises(ValueError, match="service level"):  # outside (0, 1): a clear error
        build_inventory_report(lake=bad_lake, tenant="demo", out=str(tmp_path), top_n=3,
                               policy=InventoryPolicy(service_level=1.5), log_mlflow=False)


def test_champion_forecast_is_used_when_registered(lake, mlflow_uri, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    from features.demand import sku_demand_panel
    from models.forecast import SeasonalNaive
    from models.forecast.pyfunc import ForecastPyfunc
    from oms.tenancy import registered_name
    from pipelines.registry import log_pyfunc

    lines = read_table(table_uri(lake, "order_lines"))
    panel = sku_demand_panel(lines)[["unique_id", "ds", "y"]]
    model = SeasonalNaive().fit(panel)
    name = registered_name("sku_demand_forecaster", "demo")
    example = pd.DataFrame({"unique_id": [panel["unique_id"].iloc[0]],
                            "ds": [panel["ds"].max() + pd.Timedelta(days=1)]})
    with mlflow.start_run():
        version = log_pyfunc(ForecastPyfunc(model, [], 30), name, example)
    MlflowClient().set_registered_model_alias(name, "champion", version)
    rep = compute_report(lake, "demo", top_n=12)
    assert rep.summary["forecast_source"] == "champion"
    assert rep.summary["period_forecast"].startswith("LeadTimeDemandGBM")
    assert (rep.table["method"] == "period_quantiles").mean() > 0.5


def test_report_logs_to_mlflow_when_configured(lake, mlflow_uri, tmp_path):
    import mlflow

    rep = build_inventory_report(lake=lake, tenant="demo", out=str(tmp_path), top_n=6)
    assert rep.run_id is not None
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(rep.run_id,
                                                                  "inventory_report")}
    assert files == {"inventory_report/inventory_recommendations.parquet",
                     "inventory_report/recommendations.csv", "inventory_report/report.html"}


def test_cli_report_and_clear_errors(lake, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["report", "inventory", "--lake", lake, "--out", str(tmp_path),
                             "--top-n", "6", "--no-mlflow"])
    assert ok.exit_code == 0, ok.output
    assert "to reorder now" in ok.output and "report.html" in ok.output
    bad = runner.invoke(app, ["report", "inventory", "--lake", lake, "--out", str(tmp_path),
                              "--service-level", "1.5", "--no-mlflow"])
    assert bad.exit_code == 1 and "service level" in bad.output
    bad = runner.invoke(app, ["report", "inventory", "--lake", lake, "--tenant", "a/b",
                              "--no-mlflow"])
    assert bad.exit_code == 1 and "invalid tenant" in bad.output


def test_policy_costs_are_validated():
    with pytest.raises(ValueError, match="must be > 0"):
        InventoryPolicy(ordering_cost=0).fit(pd.DataFrame(
            {"unique_id": ["a"], "ds": [pd.Timestamp("2024-01-01")], "y": [1.0]}))


# ---------------------------------------------------------------- headless Chromium
def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("OMS_ML_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium not found; run scripts/check_browser.sh")
        pytest.skip("chromium not installed (scripts/check_browser.sh installs it)")
    return path


def _run_chromium(page: str, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", *extra,
           f"file://{page}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)


def _console(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]


@pytest.mark.browser
def test_console_check_catches_errors(tmp_path):
    """The console check is not vacuous: a page with an error is caught."""
    page = tmp_path / "err.html"
    page.write_text("<!DOCTYPE html><html><body><script>nope();</script></body></html>")
    res = _run_chromium(str(page), tmp_path, "--dump-dom")
    assert any("nope is not defined" in ln for ln in _console(res.stderr))


@pytest.mark.browser
def test_html_report_in_headless_chromium(report, tmp_path):
    from matplotlib.image import imread

    page = report.paths["html"]
    shot = tmp_path / "shot.png"
    res = _run_chromium(page, tmp_path, "--window-size=1280,2400", f"--screenshot={shot}")
    assert shot.exists(), res.stderr[-2000:]
    assert _console(res.stderr) == []
    img = imread(str(shot))[..., :3]
    non_white = (img < 0.95).any(axis=2).mean()
    assert img.std() > 0.05 and non_white > 0.02  # not a blank page
    dom = _run_chromium(page, tmp_path, "--dump-dom")
    assert _console(dom.stderr) == []
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    loaded = int(re.search(r'data-charts-loaded="(\d+)"', body).group(1))
    expected = int(re.search(r'data-charts-expected="(\d+)"', body).group(1))
    assert loaded == expected == dom.stdout.count('class="chart"') >= 2
    assert np.isfinite(report.summary["value_at_risk"])


def test_top_skus_from_arrow_codes_equal_the_pandas_ranking(lake):
    from pipelines.inventory_data import _filter, top_skus, top_skus_in_lake

    uri = table_uri(lake, "order_lines")
    lines = read_table(uri)
    for n in (1, 7, 10**6):
        assert top_skus_in_lake(uri, None, n) == top_skus(lines, n)
    tenant = str(lines["tenant_id"].iloc[0])
    assert top_skus_in_lake(uri, _filter(tenant), 5) == top_skus(
        lines[lines["tenant_id"] == tenant], 5)
    assert top_skus_in_lake(uri, _filter("nobody"), 5) == []


def _history_in_pandas(lake: str, tenant: str | None, top_n: int) -> pd.DataFrame:
    """``sku_warehouse_history`` as it was: every top-SKU line merged in pandas (reference)."""
    from features.demand import sku_demand_panel
    from pipelines.inventory_data import SEP, _filter, series_id, top_skus

    flt = _filter(tenant)
    uri = table_uri(lake, "order_lines")
    skus = set(top_skus(read_table(uri, ["sku", "line_amount", "is_product"], flt), top_n))
    lines = read_table(uri, ["tenant_id", "order_id", "sku", "quantity", "line_amount",
                             "is_product", "order_date"], flt)
    lines = lines[lines["sku"].isin(skus)]
    orders = read_table(table_uri(lake, "orders"), ["tenant_id", "order_id", "warehouse_id"],
                        flt)
    lines = lines.merge(orders, on=["tenant_id", "order_id"], how="inner")
    lines = lines[lines["warehouse_id"].notna()]
    lines = lines.assign(sku=series_id(lines["sku"], lines["warehouse_id"]))
    panel = sku_demand_panel(lines)[["unique_id", "ds", "y"]]
    parts = panel["unique_id"].str.split(SEP, n=1, expand=True)
    return panel.assign(sku=parts[0], warehouse_id=parts[1])


@pytest.mark.parametrize("top_n", [3, 40])
def test_history_summed_in_arrow_equals_the_pandas_merge(lake, top_n):
    from pipelines.inventory_data import sku_warehouse_history

    tenant = str(read_table(table_uri(lake, "orders"), ["tenant_id"])["tenant_id"].iloc[0])
    for who in (None, tenant):
        got = sku_warehouse_history(lake, who, top_n)
        want = _history_in_pandas(lake, who, top_n)
        assert len(got) > 100
        pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True),
                                      check_exact=True)
