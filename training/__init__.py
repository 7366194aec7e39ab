"""Time-based splits, fitting, evaluation and MLflow tracking/registry."""

from training._metrics import (
    captured_at_k,
    classification_metrics,
    expected_calibration_error,
    lift_in_top_share,
)
from training._splits import TimeSplit, split_snapshots
from training._tracking import DEFAULT_TRACKING_URI, configure_tracking, tracking_uri
from training._train import MODEL_NAME, TrainConfig, TrainResult, train

__all__ = [
    "DEFAULT_TRACKING_URI",
    "MODEL_NAME",
    "TimeSplit",
    "TrainConfig",
    "TrainResult",
    "captured_at_k",
    "classification_metrics",
    "configure_tracking",
    "expected_calibration_error",
    "lift_in_top_share",
    "split_snapshots",
    "tracking_uri",
    "train",
]
