"""Evaluation metrics against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from leadscore.features import ConfigError
from leadscore.models._scoring import tier_thresholds_matching_grades
from leadscore.training import captured_at_k, classification_metrics, expected_calibration_error


def test_captured_at_k_without_ties() -> None:
    # scores 0.9 0.8 0.7 0.6 with labels 1 0 1 1: the top 2 hold one conversion, the top 3 two.
    y, s = [1, 0, 1, 1], [0.9, 0.8, 0.7, 0.6]
    assert captured_at_k(y, s, 2) == 1.0
    assert captured_at_k(y, s, 3) == 2.0
    assert captured_at_k(y, s, 0) == 0.0
    assert captured_at_k(y, s, 10) == 3.0


def test_captured_at_k_shares_a_straddling_tie_group() -> None:
    # 50 points (one lead, converted), then four leads tied at 30 of which two converted.
    # K=3: the 50 plus 2 of the 4 tied leads, expected 2 * (2/4) = 1 conversion among them.
    y = [1, 1, 0, 1, 0]
    s = [50, 30, 30, 30, 30]
    assert captured_at_k(y, s, 3) == pytest.approx(2.0)
    assert captured_at_k(y, s, 1) == 1.0
    with pytest.raises(ConfigError, match="k must be non-negative"):
        captured_at_k(y, s, -1)


def test_expected_calibration_error_by_hand() -> None:
    # Two equal-count bins of two: [0.1, 0.1] with labels [0, 0] -> |0.1 - 0| = 0.1;
    # [0.6, 0.8] with labels [1, 1] -> |0.7 - 1| = 0.3. Weighted: (2*0.1 + 2*0.3) / 4 = 0.2.
    assert expected_calibration_error(
        [0, 0, 1, 1], [0.1, 0.1, 0.6, 0.8], n_bins=2
    ) == pytest.approx(0.2)
    assert expected_calibration_error([0, 1], [0.0, 1.0], n_bins=2) == 0.0


def test_classification_metrics_values() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    m = classification_metrics(y, p, p, capacity=2)
    assert m["roc_auc"] == pytest.approx(0.75)  # 3 of 4 (pos, neg) pairs ordered right
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert m["captured_at_capacity"] == 1.0 and m["share_captured_at_capacity"] == 0.5
    assert m["positives"] == 2 and m["base_rate"] == 0.5


def test_model_tiers_match_rule_grade_volumes() -> None:
    # Grades: 1 A, 2 B, 1 C, 2 D. Tiers cut the probability ranking at 1, 3 and 4 leads.
    prob = np.array([0.9, 0.7, 0.5, 0.3, 0.2, 0.1])
    grades = np.array(["D", "A", "B", "C", "B", "D"], dtype=object)
    assert tier_thresholds_matching_grades(prob, grades) == {"A": 0.9, "B": 0.5, "C": 0.3}


def test_split_keeps_unresolved_labels_out_of_training() -> None:
    from datetime import datetime

    from leadscore.training import split_for_test, split_snapshots

    q = [datetime(2024, m, 1) for m in (1, 4, 7, 10)] + [datetime(2025, 1, 1)]
    assert split_snapshots(q, 90).validation == datetime(2024, 10, 1)
    # A 180-day horizon: 2024-10-01's outcomes are unknown on 2025-01-01; so are 2024-07-01's
    # (2024-07-01 + 180 days = 2024-12-28 is known, just). Validation moves back a quarter.
    split = split_for_test(q, datetime(2025, 1, 1), 180)
    assert split.validation == datetime(2024, 7, 1)
    assert split.train == (datetime(2024, 1, 1), datetime(2024, 4, 1))
    with pytest.raises(ConfigError, match="needs at least 2 earlier snapshots"):
        split_for_test(q, datetime(2024, 7, 1), 180)


def test_tier_cut_keeps_a_straddling_tie_group_in_the_lower_tier() -> None:
    # Grade volumes A=1, B=1, C=1. Probabilities 0.9, then three leads tied at 0.2, then 0.1.
    # The B cut would fall inside the tie: the tie stays below (C), B keeps only what is above.
    prob = np.array([0.9, 0.2, 0.2, 0.2, 0.1])
    grades = np.array(["A", "B", "C", "D", "D"], dtype=object)
    assert tier_thresholds_matching_grades(prob, grades) == {"A": 0.9, "B": 0.9, "C": 0.9}
    prob = np.array([0.9, 0.5, 0.2, 0.2, 0.1])
    assert tier_thresholds_matching_grades(prob, grades) == {"A": 0.9, "B": 0.5, "C": 0.5}
