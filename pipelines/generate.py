"""Public API of the order generator (implementation in ``pipelines.generator``).

``generate(scale, seed, out)`` writes all eight contract tables plus the churn ground truth
``out/_truth/customer_snapshots``; ``true_churn_probability`` turns that truth into the exact
probability of no order within a horizon. ``oms-ml generate`` is the CLI.

The data-generating model, in one breath:

* **Volume.** Each alive customer orders as a Poisson process with rate
  λ × multiplier(day, region); the multiplier is weekly profile × yearly profile ×
  holiday effect × (1 + 3 · promotion_intensity) × weather effect × lognormal day noise
  (sd 0.03), normalised to mean 1. Sign-ups keep the customers' total λ on a slow trend
  (+12 %/year); ~5 % guest orders come on top. Everything except the noise is in
  ``daily_context`` (holiday_name, promotion_name/intensity, weather, temperature).
* **Calendar.** Chinese holidays (``holidays.China``), Christmas and Black Friday
  (``holidays.US``), 520, 618 (ramp from June 1), Double 11 (pre-sale from Oct 24, first wave
  Nov 1–3, ×4 on the day, midnight rush), Double 12, New Year sale, random national and city
  flash sales, and a Spring Festival slump (CNY−7..+9) with logistics paused CNY−2..+5.
* **Channels** app, mini_program, tmall, jd, douyin, pos: Tmall up on Double 11, JD on 618,
  Douyin on flash sales, POS on weekends and the Spring Festival, down in rain/snow/storms.
* **Fulfilment.** Nearest warehouse unless over capacity that day (then the second nearest);
  processing slows with load, transit grows with distance, weather adds delay; promised hours
  by distance band (+24 h on big festival days); late, cancelled and returned orders, support
  contacts; events OrderCreated → PaymentConfirmed → WarehouseAssigned → Shipped → Delivered
  (→ Returned) or → Cancelled, cut at the data's end.
* **Customers.** λ lognormal (median 1/35 per day), tier correlated with λ, churn hazard
  h = h0 · exp(grievance) where grievance decays monthly and jumps with each late delivery,
  return and support contact; dead customers stop ordering. Monthly truth snapshots record
  alive, λ and h in force on the first of each month.
* **Products.** A steady head of popular SKUs plus a Zipf long tail (ABC, intermittent and
  lumpy), promo prices, shipping-fee and gift-wrap lines (``is_product`` False); weekly
  inventory snapshots of the top SKUs per warehouse, depleted by shipments, (s, S) replenished.
"""

from pipelines.generator import (
    SCALES,
    TRUTH_SNAPSHOTS,
    GenerateReport,
    Scale,
    generate,
    month_chunks,
    true_churn_probability,
)

__all__ = [
    "SCALES",
    "TRUTH_SNAPSHOTS",
    "GenerateReport",
    "Scale",
    "generate",
    "month_chunks",
    "true_churn_probability",
]
