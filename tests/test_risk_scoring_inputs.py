"""The daily risk step's pruned inputs give the refund features of the full inputs."""

from __future__ import annotations

import pandas as pd

from models.risk.refunds import refund_features
from oms.lake import read_table
from pipelines import train_risk as tr
from pipelines.generate import generate
from pipelines.generator.risk import generate_risk, write_risk_tables


def test_scoring_inputs_give_the_features_of_the_full_inputs(tmp_path):
    root = str(tmp_path / "landing")
    generate("tiny", seed=5, out=root, progress=False)
    risk = generate_risk(read_table(f"{root}/orders"), read_table(f"{root}/order_lines"),
                         read_table(f"{root}/customers"), seed=5)
    write_risk_tables(risk, root)
    full, pruned = tr.load_risk_inputs(root), tr.load_scoring_inputs(root)
    assert len(pruned.orders) < len(full.orders)
    assert set(pruned.orders.columns) == set(tr.REFUND_ORDER_COLUMNS)
    pd.testing.assert_frame_equal(pruned.feed, full.feed)
    want = refund_features(full.requests, full.orders, full.customers, full.credit)
    got = refund_features(pruned.requests, pruned.orders, pruned.customers, pruned.credit)
    assert len(got) == len(full.requests) > 10
    pd.testing.assert_frame_equal(got[want.columns], want, check_exact=True)
