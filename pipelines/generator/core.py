"""``generate``: stream a realistic multi-table order dataset into the landing zone.

Chunks are calendar months: each month's customers, orders, lines, events, context and
inventory are generated in bulk with numpy, written through ``oms.lake.DatasetWriter`` and
dropped, so memory is bounded by one month (plus the customer base), whatever the scale.
All tables are published atomically at the end; an exception leaves no partial dataset.
"""

from __future__ import annotations

import resource
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from oms.contract import TABLES
from oms.lake import DatasetWriter, table_uri
from oms.settings import get_settings
from pipelines.generator import inventory as inv_mod
from pipelines.generator import population as pop_mod
from pipelines.generator.calendar import Calendar, build_calendar, context_frame
from pipelines.generator.orders import ChunkInput, build_chunk
from pipelines.generator.scales import DEFAULT_START, Scale, get_scale
from pipelines.generator.world import World, build_world, products_frame, warehouses_frame

TRUTH_SNAPSHOTS = "_truth/customer_snapshots"
CUSTOMER_BATCH = 500_000


@dataclass
class GenerateReport:
    """What ``generate`` produced.

    Attributes:
        rows: Rows written per contract table.
        seconds: Wall time.
        peak_rss_mb: Peak resident memory of the process during generation (MB).
        out: Root folder/URI the tables were written under.
        truth_rows: Rows of ``_truth/customer_snapshots``.
        chunks: Number of month chunks streamed.
    """

    rows: dict[str, int]
    seconds: float
    peak_rss_mb: float
    out: str
    truth_rows: int = 0
    chunks: int = 0
    params: dict[str, object] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        """Rows over all contract tables."""
        return sum(self.rows.values())


def _reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark so the report measures this run (Linux; best effort)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def month_chunks(start: pd.Timestamp, days: int) -> list[tuple[int, int]]:
    """Day-index ranges ``[lo, hi)`` of the calendar months covered by the period."""
    dates = pd.date_range(start, periods=days, freq="D")
    firsts = np.flatnonzero(dates.day == 1)
    bounds = sorted({0, *firsts.tolist(), days})
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _check_period(start: pd.Timestamp, days: int) -> int:
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    as_of = (start + pd.Timedelta(days=days)).tz_localize("Asia/Shanghai")
    if as_of > pd.Timestamp.now(tz="UTC"):
        raise ValueError(
            f"the period {start.date()} + {days} days ends after today; generated events "
            "would lie in the future and fail the contract: choose an earlier --start"
        )
    return int(as_of.timestamp())


def _progress(enabled: bool, days: int):
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]generate[/] {task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total} days"), TimeElapsedColumn())


@dataclass
class _State:
    """Everything that lives across chunks."""

    scale: Scale
    seed: int
    tenant_id: str
    start: pd.Timestamp
    as_of_s: int
    world: World
    cal: Calendar
    pop: pop_mod.Population
    inv: inv_mod.Inventory
    seq: int = 0


def _init_state(scale: Scale, seed: int, tenant_id: str, start: pd.Timestamp,
                days: int) -> _State:
    as_of_s = _check_period(start, days)
    guest_base = scale.orders_per_day / (1 - pop_mod.GUEST_SHARE)
    world = build_world(scale, seed, guest_base)
    cal = build_calendar(start, days, world, seed, scale.realism)
    rng = np.random.default_rng([seed, 0, 3])
    pop = pop_mod.initial_population(scale.orders_per_day, int(cal.epoch_day[0]), world, rng)
    inv = inv_mod.init_inventory(world, scale.inventory_skus, guest_base, scale)
    return _State(scale, seed, tenant_id, start, as_of_s, world, cal, pop, inv)


def _run_chunk(st: _State, k: int, lo: int, hi: int, w: dict[str, DatasetWriter]) -> int:
    """Generate and write one month; returns the number of orders."""
    rng = np.random.default_rng([st.seed, 1, k])
    lo_day = int(st.cal.epoch_day[lo])
    if pd.Timestamp(lo_day, unit="D").day == 1:
        w[TRUTH_SNAPSHOTS].write(pop_mod.snapshot_frame(st.pop, lo_day, st.tenant_id))
    target = st.scale.orders_per_day * (1 + st.scale.growth_per_year * hi / 365.0)
    pop_mod.add_signups(st.pop, target, lo_day, hi - lo, st.world, rng)
    act = pop_mod.simulate_chunk(st.pop, st.cal, lo, hi, lo_day, rng)
    ci = ChunkInput(cal=st.cal, world=st.world, pop=st.pop, lo=lo, n_days=hi - lo,
                    as_of_s=st.as_of_s, seq0=st.seq, tenant_id=st.tenant_id)
    res = build_chunk(ci, act, rng)
    known = res.cust >= 0
    pop_mod.update_grievance(st.pop, res.cust[known], res.late[known], res.returned[known],
                             res.contacts[known])
    snaps = inv_mod.advance(st.inv, st.cal.epoch_day[lo:hi], res.line_day, res.line_wh,
                            res.line_sku, res.line_qty)
    w["orders"].write(res.orders)
    w["order_lines"].write(res.lines)
    w["order_events"].write(res.events)
    w["daily_context"].write(context_frame(st.cal, st.world, lo, hi, st.tenant_id))
    w["inventory"].write(inv_mod.snapshot_frame(st.inv, snaps, st.world, st.tenant_id))
    st.seq += len(res.orders)
    return len(res.orders)


def generate(
    scale: str,
    seed: int,
    out: str | None,
    tenant_id: str = "demo",
    start: str | pd.Timestamp | None = None,
    days: int | None = None,
    progress: bool = False,
) -> GenerateReport:
    """Generate a realistic order dataset (all 8 contract tables) under ``out``.

    Args:
        scale: ``tiny``, ``small``, ``medium``, ``large`` or ``realistic`` (see ``SCALES``).
        seed: Random seed; the same seed (and arguments) gives identical data.
        out: Root folder/URI; each table goes to ``out/<table>``, the churn ground truth to
            ``out/_truth/customer_snapshots``. ``None`` means the settings' landing zone.
        tenant_id: Tenant written on every row.
        start: First day (default 2023-01-01).
        days: Number of days (default: the scale's).
        progress: Show a rich progress bar.

    Returns:
        Rows per table, wall time, peak RSS and where the data went.

    Raises:
        ValueError: Unknown scale, ``days < 1``, or a period that ends in the future.
    """
    sc = get_scale(scale)
    out = str(out) if out is not None else get_settings().landing
    start_ts = pd.Timestamp(start if start is not None else DEFAULT_START).normalize()
    n_days = int(days if days is not None else sc.days)
    _reset_peak_rss()
    t0 = time.perf_counter()
    st = _init_state(sc, seed, tenant_id, start_ts, n_days)
    chunks = month_chunks(start_ts, n_days)
    with ExitStack() as stack:
        w = {t: stack.enter_context(DatasetWriter(table_uri(out, t), table=t)) for t in TABLES}
        w[TRUTH_SNAPSHOTS] = stack.enter_context(
            DatasetWriter(table_uri(out, TRUTH_SNAPSHOTS), table=None,
                          schema=pop_mod.TRUTH_SCHEMA))
        w["products"].write(products_frame(st.world, tenant_id))
        w["warehouses"].write(warehouses_frame(st.world, tenant_id))
        bar = stack.enter_context(_progress(progress, n_days))
        task = bar.add_task(sc.name, total=n_days) if bar else None
        orders = 0
        for k, (lo, hi) in enumerate(chunks):
            orders += _run_chunk(st, k, lo, hi, w)
            if bar:
                bar.update(task, advance=hi - lo, description=f"{sc.name}: {orders:,} orders")
        for lo in range(0, st.pop.n, CUSTOMER_BATCH):
            hi = min(st.pop.n, lo + CUSTOMER_BATCH)
            w["customers"].write(pop_mod.customers_frame(st.pop, tenant_id, st.world, lo, hi))
    return GenerateReport(
        rows={t: w[t].rows for t in TABLES}, seconds=time.perf_counter() - t0,
        peak_rss_mb=_peak_rss_mb(), out=out, truth_rows=w[TRUTH_SNAPSHOTS].rows,
        chunks=len(chunks),
        params={"scale": sc.name, "seed": seed, "start": str(start_ts.date()), "days": n_days,
                "tenant_id": tenant_id},
    )
