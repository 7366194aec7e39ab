"""Evaluation metrics shared by every comparison: both scorers are measured the same way.

``captured_at_k`` is the sales-capacity metric: how many of the actual conversions sit in the
K leads a team would work first. Ties in the score (rule points tie a lot) are broken
fairly: a tie group that straddles position K contributes its *expected* share of
conversions, as if the team picked randomly among equally scored leads.
"""

from __future__ import annotations

import numpy as np
from leadscore.features import ConfigError
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def captured_at_k(y: ArrayLike, score: ArrayLike, k: int) -> float:
    """Expected number of positives among the top ``k`` rows by ``score`` (ties shared)."""
    if k < 0:
        raise ConfigError(f"k must be non-negative, got {k!r}")
    y_arr = np.asarray(y, dtype="float64")
    s = np.asarray(score, dtype="float64")
    if k == 0 or len(s) == 0:
        return 0.0
    if k >= len(s):
        return float(y_arr.sum())
    threshold = np.sort(s)[::-1][k - 1]
    above = s > threshold
    tied = s == threshold
    remaining = k - int(above.sum())
    return float(y_arr[above].sum() + remaining * y_arr[tied].sum() / tied.sum())


def expected_calibration_error(y: ArrayLike, prob: ArrayLike, n_bins: int = 10) -> float:
    """ECE over ``n_bins`` equal-count bins of the predicted probability.

    Equal-count bins suit lead scoring, where most probabilities sit near the base rate and
    equal-width bins would put almost every lead in the first bin.
    """
    y_arr = np.asarray(y, dtype="float64")
    p = np.asarray(prob, dtype="float64")
    if len(p) == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, min(n_bins, len(p))):
        if len(chunk):
            total += len(chunk) * abs(p[chunk].mean() - y_arr[chunk].mean())
    return float(total / len(p))


def classification_metrics(
    y: ArrayLike, score: ArrayLike, prob: ArrayLike | None, capacity: int
) -> dict[str, float]:
    """ROC AUC and PR AUC of ``score``; Brier, log loss and ECE of ``prob`` (if given);
    conversions captured in the top ``capacity`` leads; the label count and rate."""
    y_arr = np.asarray(y, dtype="float64")
    s = np.asarray(score, dtype="float64")
    out: dict[str, float] = {
        "rows": float(len(y_arr)),
        "positives": float(y_arr.sum()),
        "base_rate": float(y_arr.mean()) if len(y_arr) else float("nan"),
        "capacity": float(capacity),
        "captured_at_capacity": captured_at_k(y_arr, s, capacity),
    }
    both_classes = 0 < y_arr.sum() < len(y_arr)
    out["roc_auc"] = float(roc_auc_score(y_arr, s)) if both_classes else float("nan")
    out["pr_auc"] = float(average_precision_score(y_arr, s)) if both_classes else float("nan")
    out["share_captured_at_capacity"] = (
        float(out["captured_at_capacity"] / y_arr.sum()) if y_arr.sum() else float("nan")
    )
    if prob is not None:
        p = np.clip(np.asarray(prob, dtype="float64"), 1e-12, 1 - 1e-12)
        out["brier"] = float(brier_score_loss(y_arr, p))
        out["log_loss"] = float(log_loss(y_arr, p, labels=[0, 1])) if len(y_arr) else float("nan")
        out["ece"] = float(expected_calibration_error(y_arr, p))
    return out


def lift_in_top_share(y: ArrayLike, score: ArrayLike, share: float = 0.1) -> float:
    """Conversion rate in the top ``share`` of leads divided by the overall rate."""
    y_arr = np.asarray(y, dtype="float64")
    k = max(1, round(len(y_arr) * share))
    rate = y_arr.mean()
    return float(captured_at_k(y_arr, score, k) / k / rate) if rate else float("nan")


def as_float_array(values: ArrayLike) -> NDArray[np.float64]:
    """Values as a float64 numpy array."""
    return np.asarray(values, dtype="float64")


def reliability_bins(y: ArrayLike, prob: ArrayLike, n_bins: int = 10) -> list[dict[str, float]]:
    """The reliability table of ``prob`` against 0/1 ``y``: ``n_bins`` equal-count bins by
    predicted probability (the bins of :func:`expected_calibration_error`), each with its
    number, leads, mean predicted probability and observed conversion rate."""
    y_arr = np.asarray(y, dtype="float64")
    p = np.asarray(prob, dtype="float64")
    order = np.argsort(p, kind="stable")
    out = []
    for i, chunk in enumerate(np.array_split(order, min(n_bins, max(len(p), 1)))):
        if len(chunk) == 0:
            continue
        out.append({"bin": i + 1, "leads": len(chunk), "mean_predicted": float(p[chunk].mean()),
                    "observed": float(y_arr[chunk].mean())})  # fmt: skip
    return out
