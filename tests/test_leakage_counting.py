"""The leakage guard's ROC AUC by counting pairs per value (issue 14, item 3: it sorts each
column once instead of ranking every fold), checked against the slow oracle of
``tests/test_leakage.py`` on columns made of ties, signed zeros and infinities."""

from __future__ import annotations

import numpy as np
import pandas as pd
from leadscore.training import leakage_report
from leadscore.training._leakage import _auc, _ordered_codes

from tests.test_leakage import _oracle_categorical, _oracle_numeric, _pair_auc


def test_auc_by_counting_is_the_pair_count_exactly() -> None:
    # six won and five lost rows over four distinct scores; -0.0 and 0.0 are one score
    score = np.array([1.0, -0.0, 0.0, 3.0, -np.inf, 1.0, 0.0, 3.0, -np.inf, 1.0, -0.0])
    y = np.array([1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1], dtype=bool)
    codes, k = _ordered_codes(score)
    assert k == 4  # -inf, 0, 1, 3
    pos, neg = score[y].tolist(), score[~y].tolist()
    assert _auc(y, codes, k) == _pair_auc(pos, neg)
    # reversed: the score negated, every pair's outcome flipped (ties stay ties)
    assert _auc(y, codes, k, reverse=True) == _pair_auc([-v for v in pos], [-v for v in neg])
    assert np.isnan(_auc(np.zeros(11, dtype=bool), codes, k))  # one class: no AUC


def test_guard_on_tied_and_infinite_values_matches_the_oracles() -> None:
    # 300 rows: x takes five values (one of them infinite, zeros of both signs) or is
    # missing, more often missing among won rows; tag is a category with a missing value
    rng = np.random.default_rng(11)
    n = 300
    y = (rng.random(n) < 0.3).astype(int)
    x = rng.choice([-0.0, 0.0, 1.0, 2.5, np.inf], size=n).astype(object)
    x[(rng.random(n) < 0.15 + 0.3 * y)] = None
    tag = rng.choice(["call", "web", "event", None], size=n).astype(object)
    frame = pd.DataFrame({"x": pd.array(x.tolist(), dtype="Float64"), "tag": tag})
    report = leakage_report(frame, y, {"x": "numeric", "tag": "categorical"}, folds=4, seed=5)
    as_list = [None if v is None else float(v) for v in x]
    assert report["x"].auc == _oracle_numeric(as_list, y, 4, 5)
    expected_tag = _oracle_categorical(list(tag), y, 4, 5)
    assert abs(report["tag"].auc - expected_tag) < 1e-12
    missing = np.array([v is None for v in x])
    pos = [float(m) for m, w in zip(missing, y, strict=True) if w]
    neg = [float(m) for m, w in zip(missing, y, strict=True) if not w]
    assert report["x"].missing_auc == max(_pair_auc(pos, neg), 1 - _pair_auc(pos, neg))


def test_ordered_codes_hashed_or_sorted_are_the_sorted_positions() -> None:
    # _ordered_codes hashes a column of few distinct values and sorts one of many; either
    # way each row's code is its value's position among the sorted distinct values (what
    # numpy's unique gives), -0.0 and 0.0 one value, infinities at the ends.
    rng = np.random.default_rng(3)
    few = rng.choice([-np.inf, -0.0, 0.0, 1.0, 2.0, 7.5, np.inf], size=50_000)
    many = np.concatenate([rng.normal(size=40_000), few[:10_000]])
    for column in (few, many):
        codes, k = _ordered_codes(column)
        distinct, expected = np.unique(column, return_inverse=True)
        assert k == len(distinct) and np.array_equal(codes, expected.reshape(-1))
    assert _ordered_codes(few)[1] == 6  # -0.0 and 0.0 share a position
