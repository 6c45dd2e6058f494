"""CLI commands for risk: ``oms-ml generate-risk``, ``oms-ml train risk``, ``oms-ml score risk``."""

from __future__ import annotations

import typer

from flows.apps import app, guard, score_app, train_app

FAMILY_CHOICES = ("all", "triage", "anomaly", "refunds", "eta", "returns")


def _fail(e: Exception) -> None:
    typer.secho(f"error: {e}", err=True, fg="red")
    raise typer.Exit(code=1) from None


@app.command("generate-risk")
def generate_risk_command(
    root: str = typer.Option(..., help="Root written by `oms-ml generate` (orders, customers)."),
    seed: int = typer.Option(42, help="Random seed."),
    abnormal_rate: float = typer.Option(0.01, help="Share of abnormal orders."),
) -> None:
    """Derive the risk feed, refund requests and their hidden truth from generated orders."""
    from rich.console import Console

    from oms.lake import LakeError, read_table
    from pipelines.generator.risk import generate_risk, write_risk_tables

    try:
        data = generate_risk(read_table(f"{root}/orders"), read_table(f"{root}/order_lines"),
                             read_table(f"{root}/customers"), seed=seed,
                             abnormal_rate=abnormal_rate)
        rows = write_risk_tables(data, root)
    except (LakeError, ValueError) as e:
        _fail(e)
    Console().print(", ".join(f"{k}: {v:,}" for k, v in rows.items()))


@train_app.command("risk")
def train_risk_command(
    root: str = typer.Option(..., help="Root holding the risk tables (`generate-risk`)."),
    tenant: str = typer.Option("demo", help="Tenant whose models are registered."),
    family: str = typer.Option("all", help="all, triage, anomaly, refunds, eta or returns."),
    eval_messages: str = typer.Option(None, help="Labelled CSV to evaluate triage on."),
) -> None:
    """Train the risk families, register each as <family>__<tenant> and run the gate."""
    from rich.console import Console

    from oms.lake import LakeError
    from pipelines import train_risk as tr
    from pipelines.registry import configure_mlflow

    if family not in FAMILY_CHOICES:
        raise typer.BadParameter(f"family must be one of {FAMILY_CHOICES}")
    with guard():  # an unusable tracking store is one line, not a traceback
        configure_mlflow()
    c = Console()
    try:
        needs = family in ("all", "anomaly", "refunds")
        inp = tr.load_risk_inputs(root) if needs else None
        for res, example, col in _fit_all(tr, root, inp, family, eval_messages):
            gate = tr.register(res, tenant, example, col)
            c.print(f"{gate.name} v{gate.version}: {res.gate_metric}="
                    f"{res.metrics[res.gate_metric]:.4f} → "
                    f"{'champion' if gate.promoted else 'challenger'} ({gate.reason})")
    except (LakeError, ValueError, FileNotFoundError) as e:
        _fail(e)


def _fit_all(tr, root: str, inp, family: str, eval_messages: str | None):
    """Yield (fit result, input example, text column) per requested family."""
    if family in ("all", "triage"):
        msgs = tr.fixture_messages(eval_messages) if eval_messages else None
        yield tr.fit_triage(msgs), _messages_example(), "message"
    if family in ("all", "anomaly"):
        yield tr.fit_anomaly(inp.feed, inp.abnormal_truth), inp.feed.head(5), None
    if family in ("all", "refunds"):
        res = tr.fit_refunds(inp.requests, inp.refund_truth, inp.orders, inp.customers,
                             inp.credit)
        from models.risk.refunds import refund_features

        ex = refund_features(inp.requests.head(5), inp.orders, inp.customers, inp.credit)
        yield res, ex, None
    if family in ("all", "eta", "returns"):
        yield from _fit_after_sales(tr, _contract_tables(root), family)


def _contract_tables(root: str) -> dict:
    """The contract tables ETA and returns read, from ``root``."""
    from oms.lake import read_table

    names = ("orders", "order_lines", "customers", "products", "warehouses", "order_events",
             "daily_context")
    return {n: read_table(f"{root}/{n}", table=n) for n in names}


def _fit_after_sales(tr, t: dict, family: str):
    if family in ("all", "eta"):
        res = tr.fit_eta(t["orders"], t["customers"], t["warehouses"], t["daily_context"])
        from models.risk.eta import eta_features

        o = t["orders"][t["orders"]["warehouse_id"].notna()].head(5)
        ex = eta_features(o, t["customers"], t["warehouses"], t["daily_context"])
        yield res, ex, None
    if family in ("all", "returns"):
        from models.risk.returns import return_lines

        res = tr.fit_returns(t["orders"], t["order_lines"], t["products"], t["order_events"])
        ex = return_lines(t["orders"].head(50), t["order_lines"], t["products"],
                          t["order_events"]).head(5)
        yield res, ex, None


def _messages_example():
    import pandas as pd

    return pd.DataFrame({"message": ["where is my order O0000000042?", "我要投诉"]})


@score_app.command("risk")
def score_risk_command(
    root: str = typer.Option(..., help="Root holding the risk tables."),
    out: str = typer.Option(..., help="Folder for the decision files (parquet)."),
    tenant: str = typer.Option("demo", help="Tenant whose champions score."),
) -> None:
    """Score the risk feed and refund requests with the tenant's champions; write decisions."""
    from rich.console import Console

    from oms.lake import LakeError, write_frame
    from oms.tenancy import registered_name
    from pipelines import train_risk as tr
    from pipelines.registry import configure_mlflow, load_champion

    with guard():  # an unusable tracking store is one line, not a traceback
        configure_mlflow()
    try:
        inp = tr.load_risk_inputs(root)
        from models.risk.refunds import refund_features

        anomaly = load_champion(registered_name(tr.FAMILIES["anomaly"], tenant))
        flags = anomaly.predict(tr.naive_utc(inp.feed))
        feats = refund_features(inp.requests, inp.orders, inp.customers, inp.credit)
        refund_model = load_champion(registered_name(tr.FAMILIES["refunds"], tenant))
        refunds = refund_model.predict(tr.naive_utc(feats))
    except (LakeError, LookupError, ValueError) as e:
        _fail(e)
    write_frame(flags, f"{out}/abnormal_order_flags.parquet")
    write_frame(refunds, f"{out}/refund_decisions.parquet")
    Console().print(f"{int(flags['flagged'].sum()):,} of {len(flags):,} orders flagged; "
                    f"{int((refunds['decision'] == 'auto_approve').sum()):,} of "
                    f"{len(refunds):,} refunds auto-approved → {out}")
