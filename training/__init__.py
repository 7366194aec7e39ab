"""Time-based splits, select-refit-calibrate for every model family, the backtest and its
tournament, the leakage guard, drift, evaluation, comparison, MLflow tracking, registry and
promotion."""

from leadscore.training._backtest import BACKTEST_METRICS, BacktestConfig, BacktestResult, backtest
from leadscore.training._compare import SECTIONS, comparison_figures
from leadscore.training._compare_job import CompareConfig, CompareResult, compare
from leadscore.training._drift import DriftReport, drift, reference_profile
from leadscore.training._intervals import Difference, auc_difference, auc_over_coin
from leadscore.training._leakage import LeakageError, leakage_report, review_columns
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
from leadscore.training._refit import FAMILIES, FinalFit, fit_family
from leadscore.training._registry import load_bundle, resolve_model, rollback
from leadscore.training._report import render_html
from leadscore.training._sampling import NegativeSampling, Sample
from leadscore.training._splits import TimeSplit, split_for_test, split_snapshots
from leadscore.training._tournament import Tournament, decide
from leadscore.training._tracking import DEFAULT_TRACKING_URI, configure_tracking, tracking_uri
from leadscore.training._train import MODEL_NAME, TrainConfig, TrainResult, train

__all__ = [
    "BACKTEST_METRICS",
    "DEFAULT_TRACKING_URI",
    "FAMILIES",
    "MODEL_NAME",
    "SECTIONS",
    "BacktestConfig",
    "BacktestResult",
    "CompareConfig",
    "CompareResult",
    "Difference",
    "DriftReport",
    "FinalFit",
    "LeakageError",
    "NegativeSampling",
    "PromotionGate",
    "PromotionResult",
    "Sample",
    "TimeSplit",
    "Tournament",
    "TrainConfig",
    "TrainResult",
    "auc_difference",
    "auc_over_coin",
    "backtest",
    "captured_at_k",
    "classification_metrics",
    "compare",
    "comparison_figures",
    "configure_tracking",
    "decide",
    "drift",
    "evaluate_gate",
    "expected_calibration_error",
    "fit_family",
    "leakage_report",
    "lift_in_top_share",
    "load_bundle",
    "load_gate",
    "promote",
    "reference_profile",
    "render_html",
    "resolve_model",
    "review_columns",
    "rollback",
    "split_for_test",
    "split_snapshots",
    "tracking_uri",
    "train",
]
