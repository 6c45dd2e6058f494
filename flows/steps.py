"""The flows' steps as plain functions: one pipeline call each, a :class:`StepResult` back.

Prefect tasks (``flows/tasks.py``) only wrap these, so every step runs and is tested without
Prefect. A step turns the errors a person can act on into a result: a missing champion or a
tenant without the input is ``skipped`` with the reason, bad input is ``failed`` with the
reason; anything else (a full disk, an unwritable folder, an unreachable MLflow server)
propagates, so the I/O task around it retries and the flow then reports it as failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from flows.summary import FAILED, SKIPPED, StepResult

#: Steps of the old one-shot demo, kept for ``oms-ml demo --steps`` compatibility.
DEMO_STEPS = ("generate", "ingest", "features", "forecast", "churn", "router")
#: What the daily batch writes (in this order).
DAILY_OUTPUTS = ("volume", "sku", "churn", "inventory", "risk")
#: What the weekly retrain trains (in this order).
RETRAIN_FAMILIES = ("volume", "sku", "churn", "router", "risk")
#: Registry family of each daily output / retrain family.
FAMILY = {"volume": "order_volume_forecaster", "sku": "sku_demand_forecaster",
          "churn": "churn_classifier", "router": "warehouse_router"}
RISK_SCORED = {"anomaly": "abnormal_order_flags", "refunds": "refund_decisions"}


def _skip_errors() -> tuple[type[BaseException], ...]:
    return (LookupError,)


def _bad_input_errors() -> tuple[type[BaseException], ...]:
    from oms.lake import LakeError
    from oms.validate import ContractError

    return (ValueError, LakeError, ContractError, FileNotFoundError)


@contextmanager
def timed(step: str, tenant: str) -> Iterator[StepResult]:
    """Yield a result to fill in; time it, and turn actionable errors into skipped/failed."""
    res = StepResult(step, tenant)
    t0, cpu0 = time.perf_counter(), _cpu()
    try:
        yield res
    except (KeyError, IndexError):
        raise  # a bug, not a missing champion
    except _skip_errors() as e:
        res.status, res.reason = SKIPPED, _message(e)
    except _bad_input_errors() as e:
        res.status, res.reason = FAILED, _message(e)
    finally:
        res.seconds = round(time.perf_counter() - t0, 2)
        res.cpu_seconds = round(_cpu() - cpu0, 2)


def _cpu() -> float:
    """CPU seconds of this process and of its finished (waited-for) children."""
    import os

    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _message(e: BaseException) -> str:
    return str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)


# ----------------------------------------------------------------------------- data
def generate_step(tenant: str, landing: str, scale: str, seed: int) -> StepResult:
    """Generate a tenant's order data (and its risk tables) into ``<landing>/<tenant>``."""
    from pipelines.generate import generate
    from pipelines.generator.risk import generate_risk, write_risk_tables

    with timed("generate", tenant) as res:
        root = f"{str(landing).rstrip('/')}/{tenant}"
        rep = generate(scale, seed=seed, out=root, tenant_id=tenant, progress=False)
        from oms.lake import read_table

        risk = generate_risk(read_table(f"{root}/orders"), read_table(f"{root}/order_lines"),
                             read_table(f"{root}/customers"), seed=seed)
        rows = write_risk_tables(risk, root)
        res.rows_in = int(rep.total_rows)
        res.detail = {"landing": root, "rows": dict(rep.rows), "risk_rows": rows}
    return res


def ingest_step(tenant: str, landing: str, lake: str, quarantine: str,
                progress: bool = False) -> StepResult:
    """Ingest the tenant's landing files that are new since its last successful run."""
    from pipelines.landing_state import ingest_new_partitions

    with timed("ingest", tenant) as res:
        delta = ingest_new_partitions(tenant, landing, lake, quarantine, progress=progress)
        res.detail = {"landing": delta.landing, "new_files": len(delta.new_files),
                      "lake_version": delta.lake_version, "bad_files": delta.bad_files}
        res.rows_quarantined = len(delta.bad_files)
        notes = []
        if delta.bad_files:
            notes.append(f"{len(delta.bad_files)} file(s) quarantined whole: "
                         + "; ".join(f"{k}: {v}" for k, v in list(delta.bad_files.items())[:2]))
        if delta.report is None:
            res.status = SKIPPED
            notes.insert(0, delta.reason)
        else:
            rep = delta.report
            res.rows_in, res.rows_quarantined = rep.rows_in, rep.rows_quarantined + len(
                delta.bad_files)
            res.files = list(delta.new_files)
            res.detail["tables"] = {n: {"rows_in": t.rows_in, "rows_valid": t.rows_valid,
                                        "rows_quarantined": t.rows_quarantined,
                                        "reasons": t.reasons}
                                    for n, t in rep.tables.items()}
            notes.append(f"{len(delta.new_files)} new file(s) → lake v{delta.lake_version}")
        res.reason = "; ".join(n for n in notes if n)
    return res


def features_uri(outputs: str, tenant: str) -> str:
    """Where a tenant's feature sets are published: ``<outputs>/features/<tenant>``."""
    return f"{str(outputs).rstrip('/')}/features/{tenant}"


def features_step(tenant: str, lake: str, outputs: str, engine: str = "pandas",
                  progress: Callable[[str], None] | bool = False) -> StepResult:
    """Recompute the tenant's feature sets and publish them as one version."""
    from pipelines.features import build_features

    with timed("features", tenant) as res:
        rep = build_features(lake, features_uri(outputs, tenant), engine=engine,
                             tenant=tenant, progress=progress)
        res.rows_in = int(sum(rep.rows_in.values()))
        res.files = list(rep.paths.values())
        res.detail = {"rows_out": rep.rows_out, "cutoff": rep.cutoff}
    return res


# ----------------------------------------------------------------------------- daily outputs
def forecast_step(tenant: str, target: str, lake: str, outputs: str, run_date: str
                  ) -> StepResult:
    """Forecast with the tenant's champion: volume 7 days (+ its first 72 h), SKU demand."""
    from oms.outputs import write_output
    from pipelines.score_forecast import forecast_champion

    with timed(f"forecast {target}", tenant) as res:
        fc, path = forecast_champion(lake, target, output_uri=outputs, tenant=tenant,
                                     run_date=run_date)
        res.files = [path]
        if target == "volume":  # the next 72 hours: the first 3 days of the same forecast
            written = _read(path)  # with tenant, model version and created_at
            fc72 = written[written["ds"] < written["ds"].min() + _days(3)].reset_index(drop=True)
            res.files.append(write_output(fc72, "order_volume_forecast_72h", tenant,
                                          run_date=run_date, root=outputs))
        res.rows_in = len(fc)
        res.detail = {"rows": len(fc), "series": int(fc["unique_id"].nunique())}
    return res


def _days(n: int):
    import pandas as pd

    return pd.Timedelta(days=n)


def _read(path: str):
    import pandas as pd

    return pd.read_parquet(path)


def churn_step(tenant: str, lake: str, outputs: str, run_date: str) -> StepResult:
    """Score the tenant's customers with its churn champion."""
    from pipelines.score_churn import score_churn

    with timed("score churn", tenant) as res:
        sc = score_churn(lake, out=outputs, tenant_id=tenant, run_date=run_date)
        res.rows_in = sc.n_input
        res.files = list(sc.uris.values())
        res.detail = {"scored": len(sc.scored), "excluded": len(sc.excluded)}
        res.reason = f"{len(sc.scored):,} scored, {len(sc.excluded):,} excluded with a reason"
    return res


def inventory_step(tenant: str, lake: str, outputs: str, run_date: str) -> StepResult:
    """Inventory recommendations (SKU champion's quantiles, else the baseline; reason shown)."""
    from pipelines.inventory_report import build_inventory_report

    with timed("inventory", tenant) as res:
        rep = build_inventory_report(lake, tenant, outputs, log_mlflow=False, run_date=run_date)
        res.rows_in = len(rep.table)
        res.files = list(rep.paths.values())
        res.reason = f"forecast: {rep.summary.get('forecast_source', '')}"[:160]
        res.detail = {k: v for k, v in rep.summary.items() if isinstance(v, int | float | str)}
    return res


def monitor_step(tenant: str, lake: str, outputs: str, run_date: str) -> StepResult:
    """Drift of the day against the weeks before it, forecasts scored against actuals."""
    from pipelines.monitor import monitor_day

    with timed("monitor", tenant) as res:
        rep = monitor_day(lake, tenant, run_date, outputs)
        res.files = list(rep.paths.values())
        res.detail = {"alerts": list(rep.alerts), "notes": list(rep.notes),
                      "drift_share": rep.drift_share, "run_id": rep.run_id}
        share = "not tested" if rep.drift_share is None else f"{rep.drift_share:.0%}"
        res.reason = (f"{len(rep.alerts)} alert(s); drifted columns {share}; "
                      f"{len(rep.pending):,} forecast rows wait for their actuals")
    return res


def risk_root(landing: str, tenant: str) -> str:
    """Where the tenant's risk tables live: its landing folder (``oms-ml generate-risk``)."""
    from pipelines.landing_state import tenant_landing

    return tenant_landing(landing, tenant)


def _has_risk_tables(root: str) -> bool:
    return (Path(root) / "risk" / "risk_orders.parquet").exists()


def risk_step(tenant: str, landing: str, outputs: str, run_date: str) -> StepResult:
    """Flag abnormal orders and decide refund requests with the tenant's risk champions."""
    from models.risk.refunds import refund_features
    from oms.outputs import write_output
    from oms.tenancy import registered_name
    from pipelines import train_risk as tr
    from pipelines.registry import configure_mlflow, load_champion

    with timed("score risk", tenant) as res:
        root = risk_root(landing, tenant)
        if not _has_risk_tables(root):
            res.status = SKIPPED
            res.reason = f"no risk tables under {root}/risk (oms-ml generate-risk --root {root})"
            return res
        configure_mlflow(read_only=True)
        inp = tr.load_scoring_inputs(root)
        feed = inp.feed[inp.feed["tenant_id"].astype(str) == tenant]
        flags = load_champion(registered_name(tr.FAMILIES["anomaly"], tenant)).predict(
            tr.naive_utc(feed))
        feats = refund_features(inp.requests, inp.orders, inp.customers, inp.credit)
        feats = feats[feats["tenant_id"].astype(str) == tenant] if "tenant_id" in feats else feats
        decisions = load_champion(registered_name(tr.FAMILIES["refunds"], tenant)).predict(
            tr.naive_utc(feats))
        res.files = [write_output(_with_tenant(flags, tenant), RISK_SCORED["anomaly"], tenant,
                                  run_date=run_date, root=outputs),
                     write_output(_with_tenant(decisions, tenant), RISK_SCORED["refunds"],
                                  tenant, run_date=run_date, root=outputs)]
        res.rows_in = len(feed) + len(feats)
        res.reason = (f"{int(flags['flagged'].sum()):,} of {len(flags):,} orders flagged; "
                      f"{int((decisions['decision'] == 'auto_approve').sum()):,} of "
                      f"{len(decisions):,} refunds auto-approved")
    return res


def _with_tenant(df, tenant: str):
    return df if "tenant_id" in df.columns else df.assign(tenant_id=tenant)


# ----------------------------------------------------------------------------- training
def _gate(res: StepResult, outcome) -> None:
    """Fill the model counts and the gate's reason from a ``TrainOutcome``."""
    res.trained = 1
    res.promoted = int(outcome.promoted)
    res.kept = int(outcome.version is not None and not outcome.promoted)
    res.reason = (f"v{outcome.version} → {outcome.alias}: {outcome.gate.reason}"
                  if outcome.gate else outcome.summary())
    res.detail.update({"name": outcome.name, "version": outcome.version,
                       "alias": outcome.alias, "run_id": outcome.run_id,
                       "gate": outcome.gate.reason if outcome.gate else ""})


def train_forecast_step(tenant: str, target: str, lake: str, outputs: str,
                        models: tuple[str, ...], n_windows: int,
                        register: str | None = None) -> StepResult:
    """Backtest, register and gate the tenant's forecaster for ``target``."""
    from pipelines.train_forecast import train_from_lake

    with timed(f"train {target}", tenant) as res:
        out = train_from_lake(lake, target, models=models, n_windows=n_windows, tenant=tenant,
                              output_uri=outputs, progress=False, register=register)
        _gate(res, out)
        table = out.report.metrics
        res.detail["chosen"] = out.report.chosen
        res.detail["backtest"] = table[["model", "horizon", "wape"]].round(4).to_dict(
            orient="records")
    return res


def train_churn_step(tenant: str, lake: str) -> StepResult:
    """Train, register and gate the tenant's churn classifier."""
    from pipelines.train_churn import train_churn

    with timed("train churn", tenant) as res:
        _gate(res, train_churn(lake, tenant_id=tenant))
    return res


def train_router_step(tenant: str, timesteps: int) -> StepResult:
    """Train, evaluate, register and gate the tenant's warehouse router."""
    from pipelines.train_router import train_router

    with timed("train router", tenant) as res:
        _gate(res, train_router("dqn", total_timesteps=timesteps, progress_bar=False,
                                tenant=tenant))
    return res


def train_risk_step(tenant: str, landing: str,
                    families: tuple[str, ...] = ("anomaly", "refunds", "eta", "returns",
                                                 "triage")) -> StepResult:
    """Fit, register and gate the tenant's risk families (from its risk tables)."""
    from pipelines import train_risk as tr
    from pipelines.registry import configure_mlflow, use_experiment

    with timed("train risk", tenant) as res:
        root = risk_root(landing, tenant)
        if not _has_risk_tables(root):
            res.status = SKIPPED
            res.reason = f"no risk tables under {root}/risk (oms-ml generate-risk --root {root})"
            return res
        configure_mlflow()
        use_experiment("risk")
        reasons = []
        for fam, (fit, example, col) in _risk_fits(tr, root, families):
            gate = tr.register(fit, tenant, example, col)
            res.trained += 1
            res.promoted += int(gate.promoted)
            res.kept += int(not gate.promoted)
            reasons.append(f"{fam} v{gate.version} {'champion' if gate.promoted else 'kept'}")
        res.reason = "; ".join(reasons)
    return res


def _risk_fits(tr, root: str, families: tuple[str, ...]):
    """``(family, (fit result, input example, text column))`` for each requested family."""
    from oms.lake import read_table

    inp = tr.load_risk_inputs(root)
    if "anomaly" in families:
        yield "anomaly", (tr.fit_anomaly(inp.feed, inp.abnormal_truth), inp.feed.head(5), None)
    if "refunds" in families:
        from models.risk.refunds import refund_features

        fit = tr.fit_refunds(inp.requests, inp.refund_truth, inp.orders, inp.customers,
                             inp.credit)
        ex = refund_features(inp.requests.head(5), inp.orders, inp.customers, inp.credit)
        yield "refunds", (fit, ex, None)
    t = {n: read_table(f"{root}/{n}", table=n) for n in
         ("orders", "order_lines", "customers", "products", "warehouses", "order_events",
          "daily_context")} if {"eta", "returns"} & set(families) else {}
    if "eta" in families:
        from models.risk.eta import eta_features

        o = t["orders"][t["orders"]["warehouse_id"].notna()].head(5)
        yield "eta", (tr.fit_eta(t["orders"], t["customers"], t["warehouses"],
                                 t["daily_context"]),
                      eta_features(o, t["customers"], t["warehouses"], t["daily_context"]), None)
    if "returns" in families:
        from models.risk.returns import return_lines

        ex = return_lines(t["orders"].head(50), t["order_lines"], t["products"],
                          t["order_events"]).head(5)
        yield "returns", (tr.fit_returns(t["orders"], t["order_lines"], t["products"],
                                         t["order_events"]), ex, None)
    if "triage" in families:
        import pandas as pd

        ex = pd.DataFrame({"message": ["where is my order O0000000042?", "我要投诉"]})
        yield "triage", (tr.fit_triage(), ex, "message")
