"""Time-based splits, fitting, evaluation, comparison, MLflow tracking, registry and promotion."""

from leadscore.training._backtest import BACKTEST_METRICS, BacktestConfig, BacktestResult, backtest
from leadscore.training._compare import SECTIONS, comparison_figures
from leadscore.training._compare_job import CompareConfig, CompareResult, compare
from leadscore.training._metrics import (
    captured_at_k,
    classification_metrics,
    expected_calibration_error,
    lift_in_top_share,
)
from leadscore.training._promotion import (
    PromotionGate,
    PromotionResult,
    evaluate_gate,
    load_gate,
    promote,
)
from leadscore.training._registry import load_bundle, resolve_model, rollback
from leadscore.training._report import render_html
from leadscore.training._splits import TimeSplit, split_for_test, split_snapshots
from leadscore.training._tracking import DEFAULT_TRACKING_URI, configure_tracking, tracking_uri
from leadscore.training._train import MODEL_NAME, TrainConfig, TrainResult, train

__all__ = [
    "BACKTEST_METRICS",
    "DEFAULT_TRACKING_URI",
    "MODEL_NAME",
    "SECTIONS",
    "BacktestConfig",
    "BacktestResult",
    "CompareConfig",
    "CompareResult",
    "PromotionGate",
    "PromotionResult",
    "TimeSplit",
    "TrainConfig",
    "TrainResult",
    "backtest",
    "captured_at_k",
    "classification_metrics",
    "compare",
    "comparison_figures",
    "configure_tracking",
    "evaluate_gate",
    "expected_calibration_error",
    "lift_in_top_share",
    "load_bundle",
    "load_gate",
    "promote",
    "render_html",
    "resolve_model",
    "rollback",
    "split_for_test",
    "split_snapshots",
    "tracking_uri",
    "train",
]
