"""Retraining that scales (issue 14, item 3): the compact training frame and negative sampling.

* the compact frame (Arrow from the engine, a few snapshots per query, float32, narrow
  integers) holds the same rows and values as ``build_lead_frame``: integers and text
  exactly, floats to float32, missing values where they were;
* negative sampling keeps every won row and exactly the number of others its rule says,
  each weighted up to the number of negatives, compared with a brute-force count;
* weights reach the models: a weighted logistic regression equals one fitted on the rows
  repeated; a LightGBM fitted on a sample with its weights predicts the full rows' base
  rate, without them it does not; the family's calibration is on the original scale;
* a training run records the sampling (rate, weights, rows kept) in MLflow and in the
  bundle's metadata, with the figures a brute-force count of the rows gives.

MLflow is a real sqlite store in ``tmp_path``.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest
from leadscore.features import FeatureSpec, Warehouse, build_lead_frame
from leadscore.features._generator import GeneratorConfig, write_crm
from leadscore.features._matrix import build_training_frame
from leadscore.features._spec import demo_spec
from leadscore.models import LeadModel, LeadModelParams, LogisticBaseline
from leadscore.models._baseline import LogisticParams
from leadscore.training import NegativeSampling, TrainConfig, fit_family, train
from leadscore.training._fitting import labelled_data, rows_at
from mlflow.tracking import MlflowClient

from tests.servers import tracking_store

AS_OF = datetime(2026, 1, 1)
QUIET = {"progress": lambda _msg: None}


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small synthetic CRM (4,000 contacts, base rate a few percent)."""
    db = tmp_path_factory.mktemp("crm") / "crm.duckdb"
    con = duckdb.connect(str(db))
    try:
        write_crm(con, GeneratorConfig(n_contacts=4_000, seed=5))
    finally:
        con.close()
    return f"duckdb:///{db}"


# ------------------------------------------------------------------ the compact frame


def test_the_compact_frame_holds_the_lead_frames_rows_and_values(crm: str) -> None:
    # five quarterly snapshots, two per query: three queries whose pieces are concatenated
    snaps = [datetime(2024, 10, 1), datetime(2025, 1, 1), datetime(2025, 4, 1),
             datetime(2025, 7, 1), datetime(2025, 10, 1)]  # fmt: skip
    with Warehouse(crm, read_only=True) as wh:
        full = build_lead_frame(wh, snaps, with_labels=True, horizon_days=90,
                                data_end=AS_OF).frame  # fmt: skip
        compact = build_training_frame(wh, snaps, horizon_days=90, data_end=AS_OF,
                                       snapshots_per_query=2)  # fmt: skip
    assert list(compact.columns) == list(full.columns)
    full = full.sort_values(["as_of", "contact_id"], kind="stable").reset_index(drop=True)
    assert len(compact) == len(full) > 3_000
    floats = [c for c in full.columns if full[c].dtype.kind == "f"]
    ints = [c for c in full.columns if full[c].dtype.kind in "iu"]
    texts = [c for c in full.columns if c not in floats and c not in ints and c != "as_of"]
    assert floats and ints and texts
    # missing values exist (the check below must see some)
    assert sum(int(full[c].isna().sum()) for c in floats) > 0
    assert sum(int(full[c].isna().sum()) for c in texts) > 0
    for c in floats:
        assert compact[c].dtype == np.float32, c
        expected = full[c].to_numpy(dtype="float64").astype(np.float32)
        np.testing.assert_array_equal(compact[c].to_numpy(), expected, err_msg=c)  # NaN == NaN
    for c in ints:
        assert compact[c].dtype.itemsize <= full[c].dtype.itemsize, c
        np.testing.assert_array_equal(compact[c].to_numpy(dtype="int64"),
                                      full[c].to_numpy(dtype="int64"), err_msg=c)  # fmt: skip
    for c in texts:
        a = compact[c].astype(object).where(compact[c].notna(), None).tolist()
        b = full[c].astype(object).where(full[c].notna(), None).tolist()
        assert a == b, c
    assert (compact["as_of"] == full["as_of"]).all()
    # narrower: at most two thirds of the memory
    assert compact.memory_usage(deep=True).sum() < 0.67 * full.memory_usage(deep=True).sum()


def test_the_compact_frame_encodes_like_the_lead_frame(crm: str) -> None:
    # the model's matrix (category codes, counts, missing values) from either frame
    snaps = [datetime(2025, 4, 1), datetime(2025, 7, 1)]
    with Warehouse(crm, read_only=True) as wh:
        full = build_lead_frame(wh, snaps, with_labels=True, horizon_days=90,
                                data_end=AS_OF).frame  # fmt: skip
        compact = build_training_frame(wh, snaps, horizon_days=90, data_end=AS_OF)
    full = full.sort_values(["as_of", "contact_id"], kind="stable").reset_index(drop=True)
    spec = demo_spec()
    model = LeadModel(LeadModelParams(n_estimators=3), spec)
    model.fit_trees(full, full["label"], 3)
    a = model.encode(full).astype(np.float32)
    b = model.encode(compact)
    np.testing.assert_array_equal(b.astype(np.float32), a)  # NaN where NaN
    assert np.isnan(a).any()  # missing values are among those compared


def test_snapshots_past_the_data_end_are_refused(crm: str) -> None:
    with Warehouse(crm, read_only=True) as wh, pytest.raises(Exception, match="2025-12-01"):
        build_training_frame(wh, [datetime(2025, 12, 1)], horizon_days=90, data_end=AS_OF)


# ------------------------------------------------------------------ negative sampling


def test_sampling_keeps_every_positive_and_the_right_negatives_brute_force() -> None:
    # 1,000 rows: rows 0, 100, 200, ..., 900 won (10, a rate of 1%), the rest lost (990)
    y = np.zeros(1_000)
    y[::100] = 1
    sampling = NegativeSampling(below_rate=0.05, negatives_per_positive=20, min_negatives=50)
    s = sampling.plan(y)
    # brute force: keep max(ceil(20 x 10), 50) = 200 of the 990 lost rows
    kept = set(s.rows.tolist())
    assert {i for i in range(1_000) if y[i] == 1} <= kept
    negatives = [i for i in kept if y[i] == 0]
    assert len(negatives) == 200 and len(kept) == 210
    assert list(s.rows) == sorted(kept)  # in their original order
    w = dict(zip(s.rows.tolist(), s.weights.tolist(), strict=True))
    assert all(w[i] == 1.0 for i in range(0, 1_000, 100))
    assert all(w[i] == 990 / 200 for i in negatives)
    assert math.isclose(sum(w[i] for i in negatives), 990.0)  # weighted up to every negative
    assert s.applied and s.negative_rate == 200 / 990 and s.negative_weight == 990 / 200
    # the same labels give the same rows; another seed others
    assert np.array_equal(sampling.plan(y).rows, s.rows)
    other = NegativeSampling(below_rate=0.05, negatives_per_positive=20, min_negatives=50, seed=1)
    assert not np.array_equal(other.plan(y).rows, s.rows)


def test_no_sampling_at_a_high_rate_or_when_every_negative_would_be_kept() -> None:
    y = np.zeros(1_000)
    y[::10] = 1  # a rate of 10%: not below 5%
    s = NegativeSampling(below_rate=0.05, min_negatives=1).plan(y)
    assert not s.applied and np.array_equal(s.rows, np.arange(1_000))
    assert (s.weights == 1.0).all()
    y = np.zeros(1_000)
    y[::100] = 1  # 1%, but 200,000 negatives asked for and 990 there: keep them all
    s = NegativeSampling().plan(y)
    assert not s.applied and len(s.rows) == 1_000 and (s.weights == 1.0).all()
    assert "no negative sampling" in s.description()


def _signal_frame(n: int, seed: int) -> pd.DataFrame:
    """Leads whose win chance rises with ``pricing_page_view_30d`` (a base rate near 2%)."""
    rng = np.random.default_rng(seed)
    views = rng.poisson(1.0, n)
    p = 1 / (1 + np.exp(-(-4.6 + 0.8 * views)))
    return pd.DataFrame({"contact_id": np.arange(n), "pricing_page_view_30d": views,
                         "label": (rng.random(n) < p).astype(int)})  # fmt: skip


def test_a_weighted_logistic_regression_equals_one_on_repeated_rows() -> None:
    frame = _signal_frame(3_000, 0)
    spec = demo_spec()
    w = np.where(frame["label"] == 1, 1.0, 3.0)
    params = LogisticParams()
    weighted = LogisticBaseline(spec, params).fit(frame, frame["label"], w)
    # brute force: every lost row three times
    repeated = pd.concat([frame, *[frame[frame["label"] == 0]] * 2], ignore_index=True)
    plain = LogisticBaseline(spec, params).fit(repeated, repeated["label"])
    # the same design columns (counts, medians, means, scales), so the same fit
    assert weighted.numbers_ == plain.numbers_ and weighted.categories_ == plain.categories_
    np.testing.assert_allclose(weighted.raw_probability(frame), plain.raw_probability(frame),
                               rtol=1e-4)  # fmt: skip
    unweighted = LogisticBaseline(spec, params).fit(frame, frame["label"])
    assert not np.allclose(unweighted.raw_probability(frame), plain.raw_probability(frame),
                           rtol=0.1)  # fmt: skip


def test_lightgbm_on_a_weighted_sample_predicts_the_full_base_rate() -> None:
    frame = _signal_frame(40_000, 1)
    y = frame["label"].to_numpy()
    base = y.mean()
    s = NegativeSampling(negatives_per_positive=4, min_negatives=1).plan(y)
    assert s.applied and s.negative_weight > 5
    rows = frame.iloc[s.rows]
    params = LeadModelParams(n_estimators=50, min_child_samples=20)
    weighted = LeadModel(params, demo_spec()).fit_trees(rows, y[s.rows], 50, s.weights)
    plain = LeadModel(params, demo_spec()).fit_trees(rows, y[s.rows], 50)
    assert abs(weighted.raw_probability(frame).mean() - base) < 0.1 * base
    assert plain.raw_probability(frame).mean() > 3 * base  # the sample's own rate (20%)


def test_a_sampled_family_is_calibrated_on_the_original_scale() -> None:
    # two quarters of leads: the first the training rows, the second the latest window
    frame = _signal_frame(60_000, 2)
    train_rows, latest = frame.iloc[:40_000], frame.iloc[40_000:]
    sampling = NegativeSampling(negatives_per_positive=5, min_negatives=1)
    y = frame["label"].to_numpy()
    is_latest = np.arange(len(frame)) >= 40_000
    for family in ("logistic", "lightgbm"):
        fit = fit_family(family, train_rows, latest, demo_spec(), sampling=sampling,
                         params=LeadModelParams(n_estimators=60), **QUIET)  # fmt: skip
        assert fit.sample is not None and fit.sample.applied
        assert len(fit.sample.rows) == y.sum() + math.ceil(5 * y.sum())
        kept = np.zeros(len(frame), dtype=bool)
        kept[fit.sample.rows] = True
        # out-of-fold scores for the sampled rows and every latest-window row, no others
        scored = np.isfinite(fit.oof_probability)
        assert len(fit.oof_probability) == len(frame)
        assert np.array_equal(scored, kept | is_latest), family
        assert (~scored).sum() > 0.5 * len(frame)
        # Platt on the sampled rows with their weights: the weighted mean equals the base
        # rate of every row (the MLE of a weighted logistic fit with an intercept); an
        # unweighted fit on the sample would put their plain mean at the sample's rate (1/6)
        w = np.where(y[kept] == 1, 1.0, fit.sample.negative_weight)
        weighted_mean = np.average(fit.oof_probability[kept], weights=w)
        assert abs(weighted_mean - y.mean()) < 1e-4, family
        assert fit.oof_probability[kept].mean() < 0.5 * y[kept].mean(), family
        assert abs(fit.model.predict_proba(frame).mean() - y.mean()) < 0.1 * y.mean(), family
        # the prior shift reads every row of the latest window
        assert fit.prior_shift.rows == int(is_latest.sum())
        assert fit.prior_shift.observed == y[is_latest].mean()
        assert "each negative weighted" in fit.description()


def test_rows_before_the_test_period_are_a_slice_only_when_they_lead_the_frame() -> None:
    frame = pd.DataFrame({"x": np.arange(10.0), "k": list("abcdefghij")}, index=range(10))
    prefix = rows_at(frame, np.arange(6))
    assert prefix.equals(frame.iloc[:6])
    assert np.shares_memory(prefix["x"].to_numpy(), frame["x"].to_numpy())  # no copy
    prefix.loc[0, "x"] = -1.0  # copy-on-write: the frame keeps its value
    assert frame.loc[0, "x"] == 0.0
    # other positions, or a frame not indexed 0 .. n-1: the rows in order, indexed 0 .. n-1
    picked = rows_at(frame, np.array([0, 1, 3, 2]))
    assert picked["k"].tolist() == ["a", "b", "d", "c"] and list(picked.index) == [0, 1, 2, 3]
    shifted = frame.set_axis(range(5, 15))
    lead = rows_at(shifted, np.arange(3))
    assert lead["x"].tolist() == [0.0, 1.0, 2.0] and list(lead.index) == [0, 1, 2]


# ------------------------------------------------------------------ MLflow


def test_a_training_run_records_the_sampling(crm: str, tmp_path: Path) -> None:
    sampling = NegativeSampling(below_rate=0.2, negatives_per_positive=5, min_negatives=1)
    with tracking_store(tmp_path):
        result = train(TrainConfig(warehouse=crm, as_of=AS_OF, sampling=sampling,
                                   backtest_folds=1), **QUIET)  # fmt: skip
        run = MlflowClient().get_run(result.run_id)
        local = Path(mlflow.artifacts.download_artifacts(result.model_uri,
                                                         dst_path=str(tmp_path / "m")))  # fmt: skip
    # brute force: the rows before the test period, their labels counted here
    with Warehouse(crm, read_only=True) as wh:
        spec: FeatureSpec = demo_spec()
        window = labelled_data(wh, spec, as_of=AS_OF, horizon_days=90)
    test = window.masks()[2].to_numpy()
    y = window.frame.loc[~test, "label"].to_numpy()
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    kept = max(math.ceil(5 * positives), 1)
    assert 0 < positives / len(y) < 0.2 and kept < negatives
    p = run.data.params
    assert p["sampling_applied"] == "True"
    assert int(p["sampling_positives"]) == positives
    assert int(p["sampling_negatives"]) == negatives
    assert int(p["sampling_kept_negatives"]) == kept
    assert int(p["sampling_kept_rows"]) == positives + kept
    assert float(p["sampling_negative_rate"]) == pytest.approx(kept / negatives, rel=1e-12)
    assert float(p["sampling_negative_weight"]) == pytest.approx(negatives / kept, rel=1e-12)
    assert float(p["sampling_positive_weight"]) == 1.0
    assert float(p["sampling_below_rate"]) == 0.2
    assert f"{kept:,} of {negatives:,} negatives" in run.data.tags["leadscore.sampling"]
    meta = result.extra["sampling"]
    assert meta["kept_negatives"] == kept and meta["negative_weight"] == negatives / kept
    import yaml

    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    assert mlmodel["metadata"]["sampling"]["kept_rows"] == positives + kept
    # the calibration stays on the original scale: on the sample's scale (a rate about
    # five times the test quarter's) the expected calibration error would be several
    # times the base rate
    test_rate = result.metrics["model"]["base_rate"]
    assert result.metrics["model"]["ece"] < 0.5 * test_rate


def test_the_weighted_median_is_the_median_of_the_repeated_values() -> None:
    from leadscore.models._baseline import _weighted_median

    # 1 twice, 4 once, 9 three times: 1 1 4 9 9 9, median (4 + 9) / 2
    assert _weighted_median(np.array([9.0, 1.0, 4.0]), np.array([3.0, 2.0, 1.0])) == 6.5
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 8))
        values = rng.integers(0, 5, n).astype("float64")
        weights = rng.integers(1, 4, n)
        assert _weighted_median(values, weights.astype("float64")) == np.median(
            np.repeat(values, weights))  # fmt: skip


# ------------------------------------------------------------------ scoring in blocks


def test_scoring_in_blocks_gives_every_row_the_number_of_one_call(
    crm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each family and the rules score large inputs a block of rows at a time; with blocks of
    7 rows (the last one short) every row's number is, to the bit, that of one call on every
    row, and in row order."""
    import leadscore.models._lead_model as lead_model
    from leadscore.models import RuleScorer

    with Warehouse(crm, read_only=True) as wh:
        window = labelled_data(wh, demo_spec(), as_of=AS_OF, horizon_days=90)
    rows = window.frame.iloc[:403].reset_index(drop=True)  # 57 blocks of 7 and one of 4
    y = rows["label"].to_numpy(dtype="float64")
    assert 0 < y.sum() < len(y)
    half = len(rows) // 2
    lgbm = LeadModel(LeadModelParams(n_estimators=20), demo_spec()).fit(
        rows.iloc[:half], y[:half], validation=(rows.iloc[half:], y[half:]))  # fmt: skip
    logistic = LogisticBaseline(demo_spec()).fit(rows, y)
    rules = RuleScorer().fit(rows, y, spec=demo_spec())
    scorers = {"lightgbm raw": lgbm.raw_probability, "lightgbm": lgbm.predict_proba,
               "logistic raw": logistic.raw_probability, "logistic": logistic.predict_proba,
               "rules": rules.score}  # fmt: skip
    whole = {name: score(rows) for name, score in scorers.items()}
    monkeypatch.setattr(lead_model, "BLOCK_ROWS", 7)
    for name, score in scorers.items():
        blocked = score(rows)
        np.testing.assert_array_equal(blocked, whole[name], err_msg=name)
        # and each row alone: the blocks are not mixed up or shifted
        for i in (0, 6, 7, 13, 14, 400, 402):
            assert score(rows.iloc[[i]])[0] == blocked[i], (name, i)
