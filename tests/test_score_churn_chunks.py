"""The bounded-memory churn scorer gives exactly ``score_frame``'s rows, whatever the chunks."""

from __future__ import annotations

import pandas as pd
import pytest

from models.churn import ChurnClassifier
from pipelines.score_churn import _recommender, score_frame
from pipelines.score_churn_chunks import (
    decode_counts,
    iter_chunks,
    load_arrow_tables,
    plan_chunks,
    score_frame_chunked,
)
from pipelines.score_churn_recommender import RecommenderCounts, purchase_counts
from pipelines.train_churn import fit_and_test, load_tables

TENANT = "demo"


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> str:
    """The ``tiny`` generator's tables (guests, cancellations, returns, sign-ups only)."""
    from pipelines.generate import generate

    out = tmp_path_factory.mktemp("churn-chunks") / "lake"
    generate("tiny", seed=3, out=str(out), progress=False)
    return str(out)


@pytest.fixture(scope="module")
def whole(lake):
    return load_tables(lake, TENANT)


@pytest.fixture(scope="module")
def model(whole):
    return fit_and_test(whole, 90, n_train=2,
                        classifier=ChurnClassifier(max_iter=30, learning_rate=0.1)).model


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.scored, b.scored, check_exact=True)
    pd.testing.assert_frame_equal(a.excluded, b.excluded, check_exact=True)
    pd.testing.assert_frame_equal(a.segments, b.segments, check_exact=True)
    assert a.notes == b.notes and a.cutoff == b.cutoff


@pytest.mark.parametrize("chunk_customers", [97, 10**7])
def test_chunked_scores_equal_whole_table_scores(lake, whole, model, chunk_customers):
    arrow = load_arrow_tables(lake, TENANT)
    plan = plan_chunks(arrow, chunk_customers)
    # one chunk, or really split: every per-customer step then runs on many chunks
    assert plan.n == 1 if chunk_customers > 10**6 else plan.n > 10
    ref = score_frame(whole, model, model_version="7")
    got = score_frame_chunked(arrow, model, model_version="7", chunk_customers=chunk_customers,
                              workers=1)
    assert len(ref.scored) > 100 and len(ref.excluded) > 0
    assert (ref.scored["strategy"] == "recommendation").any()
    _same(ref, got)


def test_chunked_scores_at_an_earlier_cutoff_in_two_processes(lake, whole, model):
    cut = pd.Timestamp(whole.orders["order_date"].max()).normalize() - pd.Timedelta(days=200)
    ref = score_frame(whole, model, cutoff=cut)
    got = score_frame_chunked(load_arrow_tables(lake, TENANT), model, cutoff=cut,
                              chunk_customers=150, workers=2)
    _same(ref, got)


def test_recommender_from_chunk_counts_equals_fit(lake, whole):
    arrow = load_arrow_tables(lake, TENANT)
    cut = pd.Timestamp(whole.orders["order_date"].max()).normalize()
    from pipelines.score_churn import recommender_purchases

    counts = RecommenderCounts()
    for chunk in iter_chunks(arrow, plan_chunks(arrow, 60)):  # customer ids are codes here
        counts.add_counts(decode_counts(purchase_counts(recommender_purchases(chunk.tables, cut)),
                                        arrow))
    got, ref = counts.build(), _recommender(whole, cut)
    assert list(got.skus_) == list(ref.skus_) and got.popular_ == ref.popular_
    assert (got.similarity_ != ref.similarity_).nnz == 0
    assert set(got.customers_) == set(ref.customers_)
    for who in list(ref.customers_)[:200]:
        assert got.recommend(*who) == ref.recommend(*who)


def test_bad_chunk_size_is_refused(lake):
    with pytest.raises(ValueError, match="chunk_customers"):
        plan_chunks(load_arrow_tables(lake, TENANT), 0)


def test_sku_codes_are_numbered_in_sku_order(lake):
    """Chunks group SKUs by code: codes in string order keep groups and their order."""
    import pyarrow.compute as pc

    from oms.lake import read_table, table_uri

    arrow = load_arrow_tables(lake, TENANT)
    names = arrow.sku_ids
    assert list(names) == sorted(names) and len(set(names)) == len(names)
    codes = arrow.order_lines["sku"].to_numpy()
    lines = read_table(table_uri(lake, "order_lines"),
                       filter=pc.field("tenant_id") == TENANT)
    assert list(names[codes]) == list(lines["sku"].astype(str))


def test_decode_reads_integer_codes_their_text_and_refuses_missing_ones():
    import numpy as np

    from pipelines.score_churn_arrow import decode

    ids = np.array(["c-0", "c-1", "c-2"], dtype=object)
    for codes in (np.array([2, 0, 1]), np.array(["2", "0", "1"], dtype=object),
                  np.array([2.0, 0.0, 1.0]), ["2.0", "0", "1"], pd.Series([2, 0, 1])):
        assert list(decode(codes, ids)) == ["c-2", "c-0", "c-1"]
    for bad in (np.array([1.0, np.nan]), np.array(["1", None], dtype=object)):
        with pytest.raises(ValueError, match="without an id"):
            decode(bad, ids)
    for foreign in (np.array([0, -1]), np.array([3]), np.array(["5"], dtype=object)):
        with pytest.raises(ValueError, match="outside 0..2"):
            decode(foreign, ids)
