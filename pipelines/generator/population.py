"""The customer population: purchase rates, churn hazards, sign-ups, orders per month.

Each customer has a purchase rate λ (orders per day on an average day) and a churn hazard h
(per day). Alive customers order as a Poisson process with rate λ × the calendar multiplier of
their region; death comes at rate h. Late deliveries, returns and support contacts raise h
(a decaying "grievance" score), so bad service truly shortens lifetimes. Sign-ups are steered
so the population's total λ follows the slow trend ``base × (1 + growth · years)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from oms.contract import CUSTOMER_TIERS
from pipelines.generator.arrowcols import codes_col, const_col, date_col, ids_col
from pipelines.generator.calendar import Calendar
from pipelines.generator.world import World

LAMBDA_MEDIAN = 1 / 35  # orders per day
LAMBDA_SD = 0.9  # log-sd of λ across customers
HAZARD_MEDIAN = 1 / 500  # churn per day with perfect service
HAZARD_SD = 0.5
HAZARD_CAP = 0.05
TIER_HAZARD = np.array([1.2, 1.0, 0.8, 0.6])  # bronze .. platinum: loyalty lowers churn
GRIEVANCE_DECAY = 0.8  # per month
GRIEVANCE_WEIGHTS = (0.9, 0.5, 0.3)  # per late delivery, return, support contact
GUEST_SHARE = 0.05
CUSTOMER_ID_WIDTH = 9

# schema of _truth/customer_snapshots (as pyarrow infers it from snapshot_frame)
TRUTH_SCHEMA = pa.schema([
    ("tenant_id", pa.large_string()), ("customer_id", pa.large_string()),
    ("snapshot_date", pa.timestamp("ns")), ("alive", pa.bool_()),
    ("purchase_rate_per_day", pa.float64()), ("churn_hazard_per_day", pa.float64()),
])

_COLUMNS = ("region", "lat", "lon", "tier", "signup", "lam", "h0", "score", "alive",
            "wh1", "wh2", "d1", "d2")


@dataclass
class Population:
    """Growable column store of every customer ever created (bounded by customers, not days)."""

    n: int = 0
    cols: dict[str, np.ndarray] = field(default_factory=dict)

    def __getattr__(self, name: str) -> np.ndarray:
        cols = self.__dict__.get("cols", {})
        if name in cols:
            return cols[name][: self.__dict__["n"]]
        raise AttributeError(name)

    def append(self, new: dict[str, np.ndarray]) -> None:
        """Append customers (arrays keyed like ``_COLUMNS``)."""
        k = len(new["lam"])
        if not self.cols:
            self.cols = {c: np.empty(max(2 * k, 1024), dtype=new[c].dtype) for c in _COLUMNS}
        cap = len(self.cols["lam"])
        if self.n + k > cap:
            grow = max(2 * cap, self.n + k)
            for c in _COLUMNS:
                arr = np.empty(grow, dtype=self.cols[c].dtype)
                arr[: self.n] = self.cols[c][: self.n]
                self.cols[c] = arr
        for c in _COLUMNS:
            self.cols[c][self.n: self.n + k] = new[c]
        self.n += k

    def hazard(self) -> np.ndarray:
        """Churn hazard per day in force now."""
        return np.minimum(self.h0 * np.exp(self.score), HAZARD_CAP)

    def total_rate(self) -> float:
        """Sum of λ over alive customers (expected known-customer orders on an average day)."""
        return float(self.lam[self.alive].sum())


def mean_lambda() -> float:
    """Expected λ of a new customer."""
    return LAMBDA_MEDIAN * np.exp(LAMBDA_SD**2 / 2)


def new_customers(k: int, signup: np.ndarray, world: World,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw ``k`` customers with their region, home coordinates, tier, λ and base hazard."""
    region = rng.choice(world.n_regions, size=k, p=world.region_share).astype(np.int8)
    lat = world.region_lat[region] + rng.normal(0, 0.12, k)
    lon = world.region_lon[region] + rng.normal(0, 0.12, k)
    z = rng.normal(0, 1, k)
    lam = LAMBDA_MEDIAN * np.exp(LAMBDA_SD * z)
    loyalty = z + rng.normal(0, 0.6, k)
    tier = np.digitize(loyalty, [0.0, 1.0, 1.8]).astype(np.int8)
    h0 = HAZARD_MEDIAN * np.exp(rng.normal(0, HAZARD_SD, k)) * TIER_HAZARD[tier]
    wh1, wh2, d1, d2 = world.nearest_warehouses(lat, lon)
    return {"region": region, "lat": np.round(lat, 5), "lon": np.round(lon, 5), "tier": tier,
            "signup": signup.astype(np.int64), "lam": lam, "h0": h0, "score": np.zeros(k),
            "alive": np.ones(k, dtype=bool), "wh1": wh1, "wh2": wh2, "d1": d1, "d2": d2}


def initial_population(base: float, start_day: int, world: World,
                       rng: np.random.Generator) -> Population:
    """Customers alive at the start, sized so their total λ equals ``base``."""
    k = max(1, round(base / mean_lambda()))
    signup = start_day - rng.integers(1, 3 * 365, k)
    pop = Population()
    pop.append(new_customers(k, signup, world, rng))
    return pop


@dataclass
class ChunkActivity:
    """Customer orders of one chunk: who ordered on which chunk-relative day."""

    cust: np.ndarray  # customer index
    day: np.ndarray  # day within the chunk
    rate_by_region_day: np.ndarray  # (D, R) alive λ mass, for guest orders


def add_signups(pop: Population, target_end: float, lo_day: int, n_days: int,
                world: World, rng: np.random.Generator) -> None:
    """Sign up enough customers in a chunk that total λ reaches ``target_end`` by its end."""
    alive = pop.alive
    loss = float((pop.lam[alive] * (1 - np.exp(-pop.hazard()[alive] * n_days))).sum())
    need = target_end - pop.total_rate() + loss
    k = int(max(0, round(need / mean_lambda())))
    if k:
        signup = lo_day + rng.integers(0, n_days, k)
        pop.append(new_customers(k, np.sort(signup), world, rng))


def simulate_chunk(pop: Population, cal: Calendar, lo: int, hi: int, lo_day: int,
                   rng: np.random.Generator) -> ChunkActivity:
    """Deaths and orders of alive customers over days ``lo..hi-1`` (one vectorised pass)."""
    n_days, n_reg = hi - lo, cal.mult.shape[1]
    idx = np.flatnonzero(pop.alive)
    region = pop.region[idx].astype(np.int64)
    begin = np.clip(pop.signup[idx] - lo_day, 0, n_days)
    life = rng.exponential(1.0, len(idx)) / pop.hazard()[idx]
    dies = begin + life < n_days
    end = np.where(dies, np.minimum(n_days, begin + np.floor(life).astype(np.int64)), n_days)
    pop.cols["alive"][idx[dies]] = False

    # cumulative multiplier per region, offset so one searchsorted serves every region
    cum = np.zeros((n_reg, n_days + 1))
    cum[:, 1:] = np.cumsum(cal.mult[lo:hi].T, axis=1)
    offset = cum[:, -1].max() + 1.0
    flat = (cum + offset * np.arange(n_reg)[:, None]).reshape(-1)
    lo_c, hi_c = cum[region, begin], cum[region, end]
    counts = rng.poisson(pop.lam[idx] * (hi_c - lo_c))
    who = np.repeat(np.arange(len(idx)), counts)
    target = lo_c[who] + rng.random(len(who)) * (hi_c[who] - lo_c[who])
    pos = np.searchsorted(flat, target + offset * region[who], side="right") - 1
    day = np.clip(pos - region[who] * (n_days + 1), begin[who], np.maximum(end[who] - 1, 0))

    # alive λ mass per day and region (difference array), for guest orders
    mass = np.zeros((n_reg, n_days + 1))
    np.add.at(mass, (region, begin), pop.lam[idx])
    np.add.at(mass, (region, end), -pop.lam[idx])
    rate = np.cumsum(mass, axis=1)[:, :n_days].T
    return ChunkActivity(cust=idx[who], day=day.astype(np.int64), rate_by_region_day=rate)


def update_grievance(pop: Population, cust: np.ndarray, late: np.ndarray, returned: np.ndarray,
                     contacts: np.ndarray) -> None:
    """Monthly update of the grievance score that scales each customer's churn hazard."""
    w_late, w_ret, w_contact = GRIEVANCE_WEIGHTS
    bump = np.bincount(cust, weights=w_late * late + w_ret * returned + w_contact * contacts,
                       minlength=pop.n)
    pop.cols["score"][: pop.n] = GRIEVANCE_DECAY * pop.score + bump


def snapshot_frame(pop: Population, day: int, tenant_id: str) -> pd.DataFrame:
    """Ground truth at a snapshot day: alive, λ and h of every customer signed up before it."""
    known = np.flatnonzero(pop.signup < day)
    return pd.DataFrame({
        "tenant_id": const_col(tenant_id, len(known)),
        "customer_id": ids_col("C", known, CUSTOMER_ID_WIDTH),
        "snapshot_date": date_col(np.full(len(known), day)),
        "alive": pop.alive[known].copy(),
        "purchase_rate_per_day": pop.lam[known].copy(),
        "churn_hazard_per_day": pop.hazard()[known],
    })


def customers_frame(pop: Population, tenant_id: str, world: World, lo: int,
                    hi: int) -> pd.DataFrame:
    """``customers`` rows for customer indices ``lo..hi-1``."""
    sl = slice(lo, hi)
    return pd.DataFrame({
        "tenant_id": const_col(tenant_id, hi - lo),
        "customer_id": ids_col("C", np.arange(lo, hi), CUSTOMER_ID_WIDTH),
        "signup_date": date_col(pop.signup[sl]),
        "region": codes_col(pop.region[sl], list(world.region_names)),
        "country": const_col("CN", hi - lo),
        "tier": codes_col(pop.tier[sl], list(CUSTOMER_TIERS)),
        "lat": pop.lat[sl].astype(np.float64),
        "lon": pop.lon[sl].astype(np.float64),
    })


def true_churn_probability(snapshots: pd.DataFrame, cutoff: str | pd.Timestamp,
                           horizon_days: int) -> pd.Series:
    """True probability that each customer places no order in the ``horizon_days`` after cutoff.

    Uses each customer's latest snapshot on or before ``cutoff``: 1 if the customer is no longer
    alive, else ``1 − λ/(λ+h) · (1 − exp(−(λ+h)·N))`` — the chance the next order (rate λ)
    does not come before both the horizon and death (rate h).

    Args:
        snapshots: Rows of ``_truth/customer_snapshots`` (customer_id, snapshot_date, alive,
            purchase_rate_per_day, churn_hazard_per_day).
        cutoff: Date the churn label is measured from.
        horizon_days: Label horizon N in days.

    Returns:
        Probabilities indexed by ``customer_id`` (name ``true_churn_probability``).

    Raises:
        ValueError: No snapshot on or before ``cutoff``, or a required column is missing.
    """
    need = {"customer_id", "snapshot_date", "alive", "purchase_rate_per_day",
            "churn_hazard_per_day"}
    missing = need - set(snapshots.columns)
    if missing:
        raise ValueError(f"snapshots lack column(s) {sorted(missing)}")
    cutoff = pd.Timestamp(cutoff)
    snap = snapshots[pd.to_datetime(snapshots["snapshot_date"]) <= cutoff]
    if snap.empty:
        raise ValueError(f"no customer snapshot on or before {cutoff.date()}")
    last = snap.sort_values("snapshot_date").drop_duplicates("customer_id", keep="last")
    lam = last["purchase_rate_per_day"].to_numpy(float)
    h = last["churn_hazard_per_day"].to_numpy(float)
    total = lam + h
    p_order = np.where(total > 0, lam / np.where(total > 0, total, 1) *
                       (1 - np.exp(-total * horizon_days)), 0.0)
    p = np.where(last["alive"].to_numpy(bool), 1 - p_order, 1.0)
    return pd.Series(p, index=pd.Index(last["customer_id"].astype(str), name="customer_id"),
                     name="true_churn_probability")
