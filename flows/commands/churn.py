"""CLI commands for churn: ``oms-ml train churn`` and ``oms-ml score churn``."""

from __future__ import annotations

import typer

from flows.apps import score_app, train_app


def _fail(e: Exception) -> None:
    typer.secho(f"error: {e}", err=True, fg="red")
    raise typer.Exit(code=1) from None


def _config(coupon_threshold: float, recommend_threshold: float, coupon_amount: float,
            coupon_days: int):
    from models.churn.strategy import RetentionConfig

    try:
        return RetentionConfig(coupon_threshold, recommend_threshold, coupon_amount,
                               coupon_days)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


@train_app.command("churn")
def train_churn_command(
    lake: str = typer.Option(None, help="Lake root (default: settings)."),
    horizon_days: int = typer.Option(90, help="Churn = no order in the next N days."),
    test_cutoff: str = typer.Option(None, help="Test snapshot day (default: last day - horizon)."),
    n_train: int = typer.Option(4, help="Training snapshots before the test cutoff."),
    step_days: int = typer.Option(30, help="Days between training snapshots."),
    tenant: str = typer.Option(None, help="Only this tenant (default: all)."),
    coupon_threshold: float = typer.Option(0.7, help="Coupon above this probability."),
    recommend_threshold: float = typer.Option(0.5, help="Recommendations above this."),
    coupon_amount: float = typer.Option(50.0, help="Coupon value."),
    coupon_days: int = typer.Option(7, help="Coupon validity in days."),
) -> None:
    """Train the churn classifier (time-based validation), register and gate it."""
    from rich.console import Console

    from oms.lake import LakeError
    from pipelines.train_churn import train_churn

    cfg = _config(coupon_threshold, recommend_threshold, coupon_amount, coupon_days)
    try:
        res = train_churn(lake, horizon_days, test_cutoff, n_train, step_days, tenant,
                          config=cfg)
    except (LakeError, ValueError) as e:
        _fail(e)
    c = Console()
    c.print(f"trained on cutoffs {[str(x.date()) for x in res.train_cutoffs]}, tested on "
            f"{res.test_cutoff.date()} — selected {res.selected}")
    for k in ("roc_auc", "pr_auc", "brier", "baseline_recency_roc_auc",
              "baseline_p_alive_roc_auc", "test_churn_rate"):
        if k in res.metrics:
            c.print(f"  {k:<28} {res.metrics[k]:.4f}")
    c.print(f"churn_classifier v{res.version}: "
            f"{'champion' if res.promoted else 'challenger'} ({res.gate_reason})")


@score_app.command("churn")
def score_churn_command(
    lake: str = typer.Option(None, help="Lake root (default: settings)."),
    out: str = typer.Option(None, help="Output root (default: settings outputs)."),
    cutoff: str = typer.Option(None, help="Scoring day (default: last order day)."),
    tenant: str = typer.Option(None, help="Only this tenant (default: all)."),
    coupon_threshold: float = typer.Option(0.7, help="Coupon above this probability."),
    recommend_threshold: float = typer.Option(0.5, help="Recommendations above this."),
    coupon_amount: float = typer.Option(50.0, help="Coupon value."),
    coupon_days: int = typer.Option(7, help="Coupon validity in days."),
) -> None:
    """Score customers with the champion: probability, segment, RFM, CLV and strategy."""
    from rich.console import Console
    from rich.table import Table

    from oms.lake import LakeError
    from pipelines.score_churn import score_churn

    cfg = _config(coupon_threshold, recommend_threshold, coupon_amount, coupon_days)
    try:
        res = score_churn(lake, out, cutoff, config=cfg, tenant_id=tenant)
    except (LakeError, LookupError, ValueError) as e:
        _fail(e)
    c = Console()
    c.print(f"scored {len(res.scored)} of {res.n_input} customers at {res.cutoff.date()}; "
            f"{len(res.excluded)} excluded (see churn_exclusions)")
    t = Table("tenant", "segment", "customers", "revenue")
    for r in res.segments.itertuples():
        t.add_row(str(r.tenant_id), str(r.segment), str(r.customers), f"{r.revenue:,.0f}")
    c.print(t)
    if len(res.scored):
        c.print(res.scored["strategy"].value_counts().to_string())
    for n in res.notes:
        c.print(f"note: {n}")
    for name, uri in res.uris.items():
        c.print(f"wrote {name}: {uri}")
