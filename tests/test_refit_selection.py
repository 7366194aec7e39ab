"""The tournament's folds skip the figures no decision reads (issue 14, item 3).

``fit_family_rows(..., measure_selection=False)`` leaves out the logistic family's ROC AUC
on the latest window (a model fitted on the training rows only to be measured there); the
model, its calibration, the prior shift and every score are the same as with the figure.
``fit_and_evaluate(..., scores_only=True)`` also leaves out the tier thresholds. ``train()``
runs its backtest folds this way: they are read for their test metrics and scores only.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from leadscore.features import AttributeFeature, FeatureSpec
from leadscore.models import LeadModelParams, LogisticBaseline
from leadscore.training._fitting import fit_and_evaluate
from leadscore.training._refit import fit_family_rows, fold_of
from leadscore.training._splits import split_rows
from sklearn.metrics import roc_auc_score

QUIET = {"progress": lambda _msg: None}


def _leads() -> tuple[pd.DataFrame, np.ndarray, FeatureSpec]:
    """2,400 leads in time order: 1,800 training rows, then a latest window of 600. A lead
    wins with log-odds -2 + intent, +1 for the "enterprise" segment; the rows are
    ``rows``, ``is_latest`` marks the last 600."""
    rng = np.random.default_rng(7)
    n = 2400
    segment = rng.choice(["smb", "enterprise"], size=n).astype(object)
    intent = rng.normal(size=n)
    logit = -2.0 + intent + np.where(segment == "enterprise", 1.0, 0.0)
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    rows = pd.DataFrame({"contact_id": np.arange(1, n + 1), "segment": segment,
                         "intent": intent, "label": label})  # fmt: skip
    spec = FeatureSpec(attributes=(AttributeFeature("segment", "categorical", "segment"),
                                   AttributeFeature("intent", "numeric", "intent")),
                       decision="handoff", has_time=True, time_is_order=True,
                       label_from="column")  # fmt: skip
    return rows, np.arange(n) >= 1800, spec


def test_the_logistic_selection_figure_is_the_auc_of_a_fit_on_the_training_rows() -> None:
    rows, is_latest, spec = _leads()
    final = fit_family_rows("logistic", rows, is_latest, spec, **QUIET)
    # by hand: the same family fitted on the 1,800 training rows, ranked on the latest 600
    train, latest = rows[~is_latest], rows[is_latest]
    by_hand = LogisticBaseline(spec).fit(train, train["label"].to_numpy())
    expected = roc_auc_score(latest["label"], by_hand.raw_probability(latest))
    assert final.selection_auc == pytest.approx(expected, abs=1e-12)
    assert f"ROC AUC {expected:.3f} on the latest window" in final.description()


def test_without_the_selection_figure_the_logistic_model_is_the_same() -> None:
    rows, is_latest, spec = _leads()
    measured = fit_family_rows("logistic", rows, is_latest, spec, **QUIET)
    skipped = fit_family_rows("logistic", rows, is_latest, spec, measure_selection=False,
                              **QUIET)  # fmt: skip
    assert not math.isnan(measured.selection_auc) and math.isnan(skipped.selection_auc)
    assert "ROC AUC not measured on the latest window" in skipped.description()
    # the model, its calibration and the out-of-fold scores do not depend on the figure
    a, b = measured.model, skipped.model
    assert np.array_equal(a.coef_, b.coef_) and a.intercept_ == b.intercept_  # type: ignore[union-attr]
    assert a.calibrator_.to_dict() == b.calibrator_.to_dict()
    assert np.array_equal(measured.oof_probability, skipped.oof_probability)
    assert measured.prior_shift == skipped.prior_shift
    assert np.array_equal(a.predict_proba(rows), b.predict_proba(rows))


def test_lightgbm_selects_its_trees_whatever_measure_selection_says() -> None:
    # LightGBM's selection is its tree count: it runs either way, with the same outcome
    rows, is_latest, spec = _leads()
    measured = fit_family_rows("lightgbm", rows, is_latest, spec, **QUIET)
    skipped = fit_family_rows("lightgbm", rows, is_latest, spec, measure_selection=False,
                              **QUIET)  # fmt: skip
    assert (skipped.selected_trees, skipped.trees) == (measured.selected_trees, measured.trees)
    assert skipped.selection_auc == measured.selection_auc
    assert np.array_equal(measured.model.predict_proba(rows), skipped.model.predict_proba(rows))


def test_a_scores_only_fold_has_the_same_metrics_and_scores_and_no_tiers() -> None:
    # the same 2,400 leads, a lead a minute: the last 20% test, the 20% before validate
    rows, _, spec = _leads()
    rows = rows.assign(as_of=pd.Timestamp("2025-01-01") + pd.to_timedelta(rows.index, "min"))
    split = split_rows(rows, dated=True, horizon_days=30, gap=False, order_only=True)
    kwargs = {"rules_path": None, "model_params": LeadModelParams(), "capacity": 48, **QUIET}
    full = fit_and_evaluate(rows, split, spec, **kwargs)  # type: ignore[arg-type]
    fold = fit_and_evaluate(rows, split, spec, scores_only=True, **kwargs)  # type: ignore[arg-type]
    assert fold.metrics == full.metrics
    assert fold.test_scores.keys() == full.test_scores.keys() == {"lightgbm", "logistic"}
    for name, score in full.test_scores.items():
        assert np.array_equal(fold.test_scores[name], score)
    assert np.array_equal(fold.test_labels, full.test_labels)
    assert np.array_equal(fold.latest_labels, full.latest_labels)
    assert len(full.latest_labels) == 480  # rows 1,441-1,920
    assert set(full.tier_thresholds) == {"lightgbm", "logistic"} and fold.tier_thresholds == {}
    assert math.isnan(fold.families["logistic"].selection_auc)
    assert not math.isnan(full.families["logistic"].selection_auc)


@pytest.mark.parametrize("ids", [
    [7, 3, 7, 12, 3, 7, 40, 12],  # a contact's rows: one per snapshot
    ["c-7", "c-3", "c-7", None, "c-3", None],  # text ids, two rows without an id
    [7.0, float("nan"), 3.0, 7.0, float("nan")],
])  # fmt: skip
def test_cross_fitting_parts_hash_each_row_s_own_id_as_text(ids: list[object]) -> None:
    # the slow, obvious way: each row's own id as text, hashed, modulo the folds
    frame = pd.DataFrame({"contact_id": ids})
    by_row = pd.util.hash_pandas_object(frame["contact_id"].astype(str), index=False)
    expected = (by_row.to_numpy() % np.uint64(3)).astype(np.intp)
    parts = fold_of(frame, 3)
    assert np.array_equal(parts, expected)
    # a contact's rows share a part (the rows without an id too)
    shared = pd.Series(parts).groupby(frame["contact_id"].to_numpy(), dropna=False).nunique()
    assert (shared == 1).all() and len(shared) == len(set(map(str, ids)))
