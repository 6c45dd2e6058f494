"""CLI commands for churn: ``oms-ml train churn`` and ``oms-ml score churn``."""

from __future__ import annotations

import typer

from flows.apps import (
    guard,
    lake_option,
    out_option,
    positive_option,
    score_app,
    tenant_option,
    train_app,
)


class RETENTION:  # noqa: N801 - a namespace of the options both commands share
    """The retention options of ``train churn`` and ``score churn``, written once."""

    coupon_threshold = typer.Option(0.7, help="Coupon above this probability.")
    recommend_threshold = typer.Option(0.5, help="Recommendations above this.")
    coupon_amount = typer.Option(50.0, help="Coupon value.")
    coupon_days = typer.Option(7, help="Coupon validity in days.")


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
    lake: str = lake_option(),
    horizon_days: int = positive_option(90, "Churn = no order in the next N days."),
    test_cutoff: str = typer.Option(None, help="Test snapshot day (default: last day - horizon)."),
    n_train: int = positive_option(4, "Training snapshots before the test cutoff."),
    step_days: int = positive_option(30, "Days between training snapshots."),
    tenant: str = tenant_option(),
    coupon_threshold: float = RETENTION.coupon_threshold,
    recommend_threshold: float = RETENTION.recommend_threshold,
    coupon_amount: float = RETENTION.coupon_amount,
    coupon_days: int = RETENTION.coupon_days,
) -> None:
    """Train the tenant's churn classifier (time-based validation), register and gate it."""
    from rich.console import Console

    cfg = _config(coupon_threshold, recommend_threshold, coupon_amount, coupon_days)
    with guard():
        from pipelines.train_churn import train_churn

        res = train_churn(lake, horizon_days, test_cutoff, n_train, step_days, tenant,
                          config=cfg)
    fit, c = res.report, Console()
    c.print(f"trained on cutoffs {[str(x.date()) for x in fit.train_cutoffs]}, tested on "
            f"{fit.test_cutoff.date()} — selected {fit.selected}")
    for k in ("roc_auc", "pr_auc", "brier", "baseline_recency_roc_auc",
              "baseline_p_alive_roc_auc", "test_churn_rate"):
        if k in fit.metrics:
            c.print(f"  {k:<28} {fit.metrics[k]:.4f}")
    c.print(res.summary())


@score_app.command("churn")
def score_churn_command(
    lake: str = lake_option(),
    out: str = out_option(),
    cutoff: str = typer.Option(None, help="Scoring day (default: last order day)."),
    tenant: str = tenant_option(),
    coupon_threshold: float = RETENTION.coupon_threshold,
    recommend_threshold: float = RETENTION.recommend_threshold,
    coupon_amount: float = RETENTION.coupon_amount,
    coupon_days: int = RETENTION.coupon_days,
) -> None:
    """Score the tenant's customers with its champion: probability, segment, RFM, CLV, strategy."""
    from rich.console import Console
    from rich.table import Table

    cfg = _config(coupon_threshold, recommend_threshold, coupon_amount, coupon_days)
    with guard():
        from pipelines.score_churn import score_churn

        res = score_churn(lake, out, cutoff, config=cfg, tenant_id=tenant)
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
