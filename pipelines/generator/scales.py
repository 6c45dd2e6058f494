"""Scale presets of the order generator (``tiny`` for tests … ``large``, ``realistic``)."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.generator.realism import Realism


@dataclass(frozen=True)
class Scale:
    """Size parameters of one generated dataset.

    Attributes:
        name: Preset name.
        days: Default number of days generated.
        orders_per_day: Known-customer order rate at the start (the population's total λ);
            guest orders come on top.
        growth_per_year: Slow linear trend of the customer base (0.12 = +12 % a year).
        n_skus: Number of product SKUs.
        n_steady: SKUs in the popular "head" with steady (non-intermittent) daily demand.
        head_share: Share of order lines that go to the head SKUs.
        n_regions: Delivery regions (Chinese cities).
        n_warehouses: Fulfilment warehouses.
        inventory_skus: Top SKUs tracked in the weekly inventory snapshots (bounded for large).
        realism: Unobserved demand drivers (``None``: demand follows the known context only).
    """

    name: str
    days: int
    orders_per_day: float
    growth_per_year: float
    n_skus: int
    n_steady: int
    head_share: float
    n_regions: int
    n_warehouses: int
    inventory_skus: int
    realism: Realism | None = None


SCALES: dict[str, Scale] = {
    s.name: s
    for s in (
        Scale("tiny", 400, 57.0, 0.12, 300, 40, 0.70, 6, 6, 60),
        Scale("small", 730, 285.0, 0.12, 2_000, 200, 0.72, 8, 7, 200),
        Scale("medium", 730, 1_425.0, 0.12, 5_000, 800, 0.80, 8, 8, 500),
        Scale("large", 730, 10_500.0, 0.12, 20_000, 2_500, 0.75, 10, 10, 1_000),
        # the benches' default world: medium-sized, a short steady head, unobserved drivers
        Scale("realistic", 730, 1_425.0, 0.12, 5_000, 100, 0.45, 8, 8, 500, Realism()),
    )
}

DEFAULT_START = "2023-01-01"


def get_scale(name: str) -> Scale:
    """Return a scale preset by name, with a clear error for unknown names."""
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; choose one of {sorted(SCALES)}") from None
