"""Training: the contract's data at its decision moment, every scorer, MLflow and the registry.

Contract of :func:`train`: reads the imported warehouse through the contract's feature spec
(:func:`features._spec.spec_for`), validates it and builds the labelled point-in-time frame
and its split (:func:`training._fitting.labelled_data`: pipeline snapshots by quarter, or
one row per lead at its handoff, by time or, without any time, stratified at random; no
data at or after ``as_of`` is read). Then:

1. **the leakage guard** ranks the contact attributes on the training rows
   (:func:`attribute_leakage`): a suspect (stop list) or a column on the review list that
   the contract has not answered (``known_before_contact``; ``known_after_contact`` columns
   are never read) stops training with :class:`~training._leakage.LeakageError` and a
   FAILED run holding the ranking, unless ``allow_leaky``;
2. **the tournament**: the training procedure is backtested on the rows *before* the test
   period (:mod:`training._backtest`, ``backtest_folds`` folds), every model family in every
   fold, and :func:`training._tournament.decide` picks the family the backtest supports (or
   ``model_family`` when given) and says whether it may be champion;
3. **the final fit** (:func:`training._fitting.fit_and_evaluate`): every family selected on
   the latest window before the test period, refitted on every row before it, calibrated
   by cross-fitting, prior-shifted to the latest window's base rate when it moved
   (:mod:`training._refit`); every scorer measured on the test rows;
4. **drift** between the rows before the test period and the test rows
   (:mod:`training._drift`);
5. **MLflow**: params (the split, the selection window, the refit, the family), every
   scorer's test metrics, the backtest folds and the tournament, drift, the leakage ranking;
   the :class:`~models.LeadScoringModel` pyfunc (as code, its bundle LightGBM text or the
   logistic model's JSON, and versioned JSON), registered under the contract's model name
   as ``challenger``; ``champion`` too when the tournament allows it and there is no
   champion yet, or with ``force``. When no scorer beats a coin on the backtest, the
   current champion is kept. The result says in words which scorer the data supports.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from leadscore.features import ConfigError, Warehouse
from leadscore.features._contract import Contract, default_contract
from leadscore.features._spec import FeatureSpec, spec_for
from leadscore.models import LeadModelParams, ScoringBundle
from leadscore.models._pyfunc import PYFUNC_CODE_PATH, lead_signature, to_model_input
from leadscore.training._backtest import before_test, folds_table, plan_folds, run_folds
from leadscore.training._drift import DriftReport, drift, reference_profile
from leadscore.training._fitting import (
    LabelledWindow,
    capacity_for,
    ceiling_for,
    fit_and_evaluate,
    labelled_data,
)
from leadscore.training._intervals import Difference, auc_difference
from leadscore.training._leakage import (
    LeakageError,
    LeakageReport,
    Suspect,
    check_leakage,
    leakage_report,
    log_leakage,
    metric_key,
)
from leadscore.training._metrics import reliability_bins
from leadscore.training._promotion import PromotionGate
from leadscore.training._refit import FAMILIES, FAMILY_LABELS, FinalFit
from leadscore.training._registry import alias_version, registry_write, set_champion
from leadscore.training._sampling import NegativeSampling
from leadscore.training._splits import RowSplit, TimeSplit
from leadscore.training._tournament import Tournament, decide, scorer_label
from leadscore.training._tracking import configure_tracking, ensure_experiment, start_run
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

MODEL_NAME = "lead-quality"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """What to train on and where to register it."""

    warehouse: str
    as_of: datetime | None = None  # "today" for training; default: the end of the data
    horizon_days: int | None = None  # default: the contract's label.horizon_days
    rules_path: str | None = None
    capacity: float | None = None  # leads sales can work per week; default from data
    model_params: LeadModelParams = field(default_factory=LeadModelParams)
    model_name: str | None = None  # default: the contract's model name
    experiment: str = "leadscore"
    allow_leaky: bool = False  # train even when the leakage guard finds suspects
    known_before_contact: tuple[str, ...] = ()  # attributes declared safe (reported, no stop)
    contract: Contract | None = None  # default: the packaged demo contract
    model_family: str | None = None  # force a family; default: the one the backtest supports
    force: bool = False  # make this version champion whatever the backtest says
    backtest_folds: int = 3  # the tournament's folds, before the test period
    gate: PromotionGate = field(default_factory=PromotionGate)
    # below a positive rate, the models are fitted on every won row and a weighted sample of
    # the others (training._sampling); NegativeSampling(below_rate=0) fits on every row
    sampling: NegativeSampling = field(default_factory=NegativeSampling)

    def __post_init__(self) -> None:
        if self.horizon_days is not None and self.horizon_days <= 0:
            raise ConfigError(f"horizon_days must be positive, got {self.horizon_days!r}")
        if self.capacity is not None and self.capacity <= 0:
            raise ConfigError(f"capacity must be positive, got {self.capacity!r}")
        if self.model_family is not None and self.model_family not in FAMILIES:
            raise ConfigError(f"model family must be one of {list(FAMILIES)}, got "
                              f"{self.model_family!r}")  # fmt: skip
        if self.backtest_folds <= 0:
            raise ConfigError(f"backtest_folds must be positive, got {self.backtest_folds!r}")

    @property
    def the_contract(self) -> Contract:
        """The contract (the packaged demo contract when none was given)."""
        return self.contract if self.contract is not None else default_contract()

    @property
    def horizon(self) -> int:
        """The label horizon in days: given, else the contract's."""
        return self.horizon_days or self.the_contract.label.horizon_days

    @property
    def registered_name(self) -> str:
        """The registered model name: given, else the contract's."""
        return self.model_name or self.the_contract.model_name


@dataclass
class TrainResult:
    """What a training run produced and measured.

    ``metrics`` holds every scorer's figures on the test rows: ``model`` is the registered
    family (also under its own name, ``lightgbm`` or ``logistic``), then the other family,
    ``rules``, ``existing_score``, ``ceiling``. ``family`` is the registered family,
    ``tournament`` the backtest's verdict (None when the history is too short to backtest),
    ``backtest`` its per-fold table, ``verdict`` the sentences the console prints."""

    run_id: str
    model_uri: str  # the exact version: models:/NAME/VERSION
    model_name: str
    model_version: str
    aliases: list[str]
    split: TimeSplit | RowSplit
    row_counts: dict[str, int]
    capacity: int
    metrics: dict[str, dict[str, float]]  # scorer -> metric -> value (test rows)
    tracking_uri: str
    data_end: datetime | None
    spec: FeatureSpec
    censored_rows: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    family: str = "lightgbm"
    tournament: Tournament | None = None
    backtest: pd.DataFrame = field(default_factory=pd.DataFrame)
    drift: DriftReport | None = None
    refit: dict[str, dict[str, Any]] = field(default_factory=dict)
    held_out: list[Difference] = field(default_factory=list)
    verdict: list[str] = field(default_factory=list)


def dataset_digest(frame: pd.DataFrame) -> str:
    """A short content hash of a frame (rows and values, not the index)."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def train(config: TrainConfig, *, progress: Progress | None = None) -> TrainResult:
    """Train, evaluate, log and register (see the module docstring)."""
    say = progress or (lambda msg: log.info("%s", msg))
    started = time.perf_counter()
    contract, horizon, name = config.the_contract, config.horizon, config.registered_name
    with Warehouse(config.warehouse, read_only=True) as wh:
        spec = spec_for(contract, wh)
        say(f"building point-in-time rows at the {spec.decision} decision "
            f"({len(spec.model_features())} features)")  # fmt: skip
        window = labelled_data(wh, spec, as_of=config.as_of, horizon_days=horizon)
        split = window.split
        say(f"{len(window.frame):,} labelled rows ({window.censored_rows:,} censored, "
            f"{window.open_rows:,} still open); split {split.description}")  # fmt: skip
        capacity = capacity_for(wh, window, spec, horizon_days=horizon, per_week=config.capacity)
        test_rows = window.frame[window.masks()[2]]
        ceiling = ceiling_for(wh, test_rows, horizon, spec.decision)
        fold_frame, plans = plan_folds(wh, window, spec, folds=config.backtest_folds,
                                       horizon_days=horizon, capacity_per_week=config.capacity,
                                       pre_test=True)  # fmt: skip
    say("leakage guard: ranking the contact attributes on the training rows")
    attributes = [a.name for a in spec.attributes if a.name in window.frame.columns]
    guard = attribute_leakage(window.frame.loc[window.masks()[0], [*attributes, "label"]], spec,
                              config.known_before_contact)  # fmt: skip
    allowed = _check_guard(guard, config)

    tournament: Tournament | None = None
    fold_table = pd.DataFrame()
    if plans:
        say(f"tournament: backtesting the training procedure on {len(plans)} fold(s) before "
            "the test period, every model family in each")  # fmt: skip
        # the folds' FinalFits are not logged here: only their test scores are read
        folds = run_folds(fold_frame, plans, spec, rules_path=config.rules_path,
                          model_params=config.model_params, sampling=config.sampling,
                          progress=say, scores_only=True)  # fmt: skip
        fold_table = folds_table(folds)
        where = f"{len(folds)} fold(s) before the test period ({_fold_span(plans)})"
        tournament = decide(folds, where=where, tolerance=config.gate.backtest_tolerance,
                            forced=config.model_family)  # fmt: skip
    else:
        say("tournament: too little history before the test period to backtest")
    del fold_frame  # the folds' own rows (a copy of the window's only at the handoff)
    family = tournament.chosen if tournament else (config.model_family or "lightgbm")
    say(f"fitting the final models: every family selected on the latest window, refit on all "
        f"rows before the test period ({FAMILY_LABELS[family]} is registered)")  # fmt: skip
    fitted = fit_and_evaluate(
        window.frame, split, spec, rules_path=config.rules_path,
        model_params=config.model_params, capacity=capacity.leads, ceiling=ceiling,
        sampling=config.sampling, progress=say,
    )  # fmt: skip
    final = fitted.families[family]
    metrics = {"model": fitted.metrics[family], **fitted.metrics}
    held_out = _held_out(fitted.test_labels, fitted.test_scores, family, split)
    before = before_test(window)
    profile = reference_profile(before, spec)
    del before
    drifted = drift(profile, test_rows, spec, reference_name="rows before the test period",
                    latest_name="test rows")  # fmt: skip
    frame = window.frame
    row_counts = {**fitted.row_counts, "censored": window.censored_rows, "open": window.open_rows,
                  "refit": final.refit_rows}  # fmt: skip
    reliability = {
        "latest window before the test period (cross-fitted)": reliability_bins(
            fitted.latest_labels, final.oof_probability[-len(fitted.latest_labels):]),
        "test period": reliability_bins(fitted.test_labels, fitted.test_scores[family]),
    }  # fmt: skip
    metadata = {
        "model_name": name,
        "model_family": family,
        "decision": spec.decision,
        "horizon_days": horizon,
        "data_end": window.data_end.isoformat() if window.data_end else None,
        "split": split.description,
        "test_start": _test_start(split),
        "selection_window": _window_words(window, "validation"),
        "capacity": capacity.leads,
        "capacity_per_week": capacity.per_week,
        "trained_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
        "leadscore_version": _leadscore_version(),
        "test_metrics": metrics,
        "refit": final.to_dict(),
        "tournament": tournament.to_dict() if tournament else None,
        "drift_reference": profile,
        "drift": drifted.to_dict(),
        "reliability": reliability,
        "sampling": _sampling_of(final),
    }
    bundle = ScoringBundle(final.model, fitted.rules, fitted.tier_thresholds[family], metadata)

    uri = configure_tracking()
    experiment_id = ensure_experiment(config.experiment)
    current = alias_version(name, "champion")
    champion, decision = _champion_decision(tournament, config, current, family)
    verdict = [*(tournament.sentences() if tournament else [
        "No backtest: too little history before the test period to compare the families "
        "over several windows."]), *(d.sentence() for d in held_out), decision]  # fmt: skip
    say(f"logging to MLflow at {uri}")
    with start_run(experiment_id) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tag("leadscore.job", "train")
        if final.sample is not None:
            mlflow.set_tag("leadscore.sampling", final.sample.description()[:5000])
        mlflow.log_params(
            {
                "warehouse": config.warehouse,
                "contract": str(contract.path) if contract.path else "packaged demo contract",
                "decision": spec.decision,
                "as_of": window.data_end.isoformat() if window.data_end else "no time",
                "horizon_days": horizon,
                "rules_file": config.rules_path or "default_rules.yaml",
                "capacity": capacity.leads,
                "capacity_source": capacity.source[:500],
                "split": split.description[:500],
                **_split_params(split),
                "dataset_digest": dataset_digest(frame),
                "features": len(spec.model_features()),
                "model_family": family,
                "model_family_forced": config.model_family is not None,
                "force": config.force,
                "selection_window": _window_words(window, "validation")[:500],
                "selection_rows": final.selection_rows,
                "latest_window_rows": final.latest_rows,
                "refit_rows": final.refit_rows,
                "refit": final.description()[:500],
                "calibration": f"platt on {final.folds}-fold cross-fitted scores",
                "prior_shift_applied": final.prior_shift.applied,
                **_sampling_params(final),
                "backtest_folds": len(plans),
                **({"selected_trees": final.selected_trees, "best_iteration": final.trees}
                   if final.trees is not None else {}),
                **{f"model.{k}": v for k, v in final.model.get_params().items()},
            }
        )  # fmt: skip
        log_leakage(guard, allowed)
        mlflow.log_metrics({f"rows_{k}": float(v) for k, v in row_counts.items()})
        mlflow.log_metrics({f"positives_{k}": float(v) for k, v in fitted.positives.items()})
        for scorer, values in metrics.items():
            mlflow.log_metrics(
                {f"test_{scorer}_{k}": v for k, v in values.items() if np.isfinite(v)}
            )
        mlflow.log_metric("prior_shift_logit", final.prior_shift.logit_shift)
        mlflow.log_dict(metrics, "evaluation/test_metrics.json")
        mlflow.log_dict(spec.to_dict(), "evaluation/feature_spec.json")
        mlflow.log_dict({f: fam.to_dict() for f, fam in fitted.families.items()},
                        "evaluation/refit.json")  # fmt: skip
        mlflow.log_dict({"held_out": [d.to_dict() for d in held_out], "verdict": verdict},
                        "evaluation/verdict.json")  # fmt: skip
        mlflow.log_dict({"tier_thresholds": fitted.tier_thresholds[family]},
                        "evaluation/tiers.json")  # fmt: skip
        mlflow.log_dict(reliability, "evaluation/reliability.json")
        importance = final.model.feature_importance()
        mlflow.log_dict(
            {str(k): float(v) for k, v in importance.items()}, "evaluation/importance.json"
        )
        if tournament is not None:
            mlflow.log_dict({"folds": fold_table.to_dict(orient="records"),
                             "tournament": tournament.to_dict()}, "backtest/tournament.json")  # fmt: skip
            for scorer, value in tournament.mean_auc.items():
                if math.isfinite(value):
                    mlflow.log_metric(f"backtest_{scorer}_roc_auc_mean", value)
            mlflow.set_tag("leadscore.supported", tournament.supported)
        _log_drift(drifted)
        bundle_dir = bundle.save(Path(tmp) / "bundle")
        example = to_model_input(test_rows.drop(columns=["label", "as_of"]).head(5), spec)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_CODE_PATH),
            artifacts={"bundle": str(bundle_dir)},
            signature=lead_signature(spec),
            input_example=example,
            pip_requirements=_pip_requirements(),
            registered_model_name=name,
            metadata={k: v for k, v in metadata.items()
                      if k not in ("test_metrics", "drift_reference", "drift", "tournament",
                                   "reliability")},
        )  # fmt: skip
        version = str(info.registered_model_version)
        client = MlflowClient()
        for tag, text in (
                ("test_metrics", json.dumps(metrics)[:5000]),
                ("test_start", str(_test_start(split))), ("model_family", family),
                ("backtest_supports_champion",
                 "unknown" if tournament is None else str(tournament.champion_ok).lower())):  # fmt: skip
            registry_write(client.set_model_version_tag, name, version, tag, text)
        registry_write(client.set_registered_model_alias, name, "challenger", version)
        aliases = ["challenger"]
        if champion:
            set_champion(name, version)
            aliases.append("champion")
        mlflow.set_tag("leadscore.registered", f"{name}/{version} @{','.join(aliases)}")
        mlflow.set_tag("leadscore.champion_decision", decision[:5000])
        run_id = run.info.run_id
    seconds = time.perf_counter() - started
    say(f"registered {name} version {version} as @{', @'.join(aliases)} ({seconds:.0f} s)")
    return TrainResult(
        run_id=run_id, model_uri=f"models:/{name}/{version}", model_name=name,
        model_version=version, aliases=aliases, split=split, row_counts=row_counts,
        capacity=capacity.leads, metrics=metrics, tracking_uri=uri, data_end=window.data_end,
        spec=spec, censored_rows=window.censored_rows, seconds=seconds,
        extra={"weekly_leads_worked": capacity.per_week, "capacity_source": capacity.source,
               "sampling": _sampling_of(final)},
        family=family, tournament=tournament, backtest=fold_table, drift=drifted,
        refit={f: fam.to_dict() for f, fam in fitted.families.items()}, held_out=held_out,
        verdict=verdict,
    )  # fmt: skip


def _sampling_of(final: FinalFit) -> dict[str, Any] | None:
    """The registered family's negative sampling (its final refit's rows), JSON-ready."""
    return None if final.sample is None else final.sample.to_dict()


def _sampling_params(final: FinalFit) -> dict[str, Any]:
    """The negative sampling as MLflow params: whether it applied, the share of negatives
    kept, their weight, the rows kept and the settings."""
    s = final.sample
    if s is None:
        return {}
    return {"sampling_applied": s.applied, "sampling_negative_rate": s.negative_rate,
            "sampling_negative_weight": s.negative_weight, "sampling_positive_weight": 1.0,
            "sampling_kept_rows": len(s.rows), "sampling_kept_negatives": s.kept_negatives,
            "sampling_negatives": s.negatives, "sampling_positives": s.positives,
            "sampling_below_rate": s.config.below_rate,
            "sampling_negatives_per_positive": s.config.negatives_per_positive,
            "sampling_min_negatives": s.config.min_negatives, "sampling_seed": s.config.seed}


def _champion_decision(tournament: Tournament | None, config: TrainConfig, current: str | None,
                       family: str) -> tuple[bool, str]:  # fmt: skip
    """Whether this version becomes champion now, and why, in words."""
    label = FAMILY_LABELS[family]
    if config.force:
        return True, (f"This version ({label}) becomes @champion because --force was given, "
                      "whatever the backtest says.")  # fmt: skip
    if tournament is None:
        kept = f"version {current} stays @champion" if current else "there is no @champion yet"
        return False, (f"This version ({label}) stays @challenger: without a backtest nothing "
                       f"shows it beats the rules or a coin; {kept}. Pass --force to make it "
                       "champion anyway.")  # fmt: skip
    if not tournament.beats_coin:
        kept = (f"the current champion (version {current}) is kept" if current
                else "no version is made champion")  # fmt: skip
        return False, (f"No scorer beats a coin on the later windows, so this version ({label}) "
                       f"stays @challenger and {kept}. Pass --force to make it champion "
                       "anyway.")  # fmt: skip
    if not tournament.champion_ok:
        why = _why_not(tournament)
        return False, (f"This version ({label}) stays @challenger: {why} The data supports "
                       f"{scorer_label(tournament.supported)}. Pass --force to make it champion "
                       "anyway.")  # fmt: skip
    if current is None:
        return True, (f"This version ({label}) becomes @champion (the first): the backtest "
                      f"supports it.")  # fmt: skip
    return False, (f"This version ({label}) is @challenger; the backtest supports it, and "
                   f"`leadscore promote` moves @champion from version {current} if it passes "
                   "the gate.")  # fmt: skip


def _why_not(t: Tournament) -> str:
    """Why the tournament does not let the chosen family be champion."""
    chosen = FAMILY_LABELS[t.chosen]
    auc = t.mean_auc
    if t.coin[t.chosen].leader != t.coin[t.chosen].a:
        d = t.coin[t.chosen]
        return (f"{chosen} does not beat a coin on the backtest (mean ROC AUC {d.a_value:.3f}, "
                f"95% interval [{d.low + 0.5:.3f}, {d.high + 0.5:.3f}] includes 0.5).")  # fmt: skip
    if t.reference is not None and auc[t.chosen] < auc[t.reference] - t.tolerance:
        return (f"{chosen} loses to {scorer_label(t.reference)} on the backtest (mean ROC AUC "
                f"{auc[t.chosen]:.3f} vs {auc[t.reference]:.3f}, more than the tolerance "
                f"{t.tolerance:g} below).")  # fmt: skip
    other = next(f for f in FAMILIES if f != t.chosen)
    return (f"{chosen} (forced by --model-family) loses to {FAMILY_LABELS[other]} on the "
            f"backtest (mean ROC AUC {auc[t.chosen]:.3f} vs {auc[other]:.3f}, more than the "
            f"tolerance {t.tolerance:g} below).")  # fmt: skip


def _held_out(y: np.ndarray, scores: dict[str, np.ndarray], family: str,
              split: TimeSplit | RowSplit) -> list[Difference]:  # fmt: skip
    """The registered family against the other family and the reference on the test rows,
    with DeLong intervals."""
    where = "held-out test rows"
    out = []
    for other in [*(f for f in FAMILIES if f != family), "rules", "existing_score"]:
        if other in scores:
            out.append(auc_difference([(y, scores[family], scores[other])],
                                      FAMILY_LABELS[family], scorer_label(other), where))  # fmt: skip
            if other in ("rules", "existing_score"):
                break  # the reference: the rules, else the existing score
    return out


def _log_drift(report: DriftReport) -> None:
    """Drift to the active MLflow run: PSI per feature, the base rates, the sentences."""
    mlflow.log_dict(report.to_dict(), "drift/drift.json")
    mlflow.log_text("\n".join(report.sentences(top=50)), "drift/summary.txt")
    mlflow.log_metrics({"drift_base_rate_train": report.base_rate_then,
                        "drift_base_rate_test": report.base_rate_now,
                        "drift_base_rate_z": report.base_rate_z})  # fmt: skip
    for f in report.features:
        mlflow.log_metric(metric_key("drift_psi", f.feature), f.psi)
        if f.kind == "numeric":
            mlflow.log_metric(metric_key("drift_outside_range", f.feature), f.outside)
    clocks = [f.feature for f in report.clocks()]
    mlflow.set_tag("drift.clock_like", ", ".join(clocks)[:5000] or "none")


def _fold_span(plans: list[Any]) -> str:
    """The folds' test periods in words: the first and the last."""
    labels = [p.label for p in plans]
    return labels[0] if len(labels) == 1 else f"{labels[0]} .. {labels[-1]}"


def _window_words(window: LabelledWindow, part: str) -> str:
    """The validation (latest) window of a labelled window's split, in words."""
    split = window.split
    if isinstance(split, TimeSplit):
        return f"snapshot {split.validation:%Y-%m-%d}"
    if split.kind == "random":
        return f"the stratified random {part} split (seed {split.seed})"
    assert split.validation_start is not None and split.test_start is not None
    if split.order_only:
        ts = pd.to_datetime(window.frame["as_of"])
        first = int((ts < pd.Timestamp(split.validation_start)).sum()) + 1
        last = int((ts < pd.Timestamp(split.test_start)).sum())
        return f"rows {first:,}-{last:,}"
    return f"{split.validation_start:%Y-%m-%d %H:%M} .. {split.test_start:%Y-%m-%d %H:%M}"


def _split_params(split: TimeSplit | RowSplit) -> dict[str, str]:
    """The quarters of a snapshot split (train window, validation and test quarters)."""
    if not isinstance(split, TimeSplit):
        return {}
    return {"train_window": f"{split.train[0]:%Y-%m-%d}..{split.train[-1]:%Y-%m-%d}",
            "validation_snapshot": f"{split.validation:%Y-%m-%d}",
            "test_snapshot": f"{split.test:%Y-%m-%d}"}  # fmt: skip


def _test_start(split: TimeSplit | RowSplit) -> str | None:
    start = split.test
    return start.isoformat() if start is not None else None


def attribute_leakage(train_rows: pd.DataFrame, spec: FeatureSpec,
                      known_before_contact: tuple[str, ...] = ()) -> LeakageReport:  # fmt: skip
    """The leakage guard's ranking of the spec's contact attributes on the training rows
    (labelled), with the team's own column names for the review list's name check.
    Attributes carry no timestamp, so nothing but the team's word says they were known at
    creation; engagement features are point-in-time by construction and are not measured.
    An attribute with no values at all is skipped."""
    kinds = {a.name: a.kind for a in spec.attributes if train_rows[a.name].notna().any()}
    labels = {a.name: a.label for a in spec.attributes if a.name in kinds}
    frame = train_rows[list(kinds)].copy()
    for column, kind in kinds.items():
        if kind == "boolean":
            frame[column] = frame[column].astype("float64")
    return leakage_report(frame, train_rows["label"].to_numpy(), kinds,
                          known_before_contact=known_before_contact, labels=labels)  # fmt: skip


def _check_guard(report: LeakageReport, config: TrainConfig) -> list[Suspect]:
    """Stop (LeakageError, logged as a FAILED MLflow run) when the guard finds suspects or
    columns to review, unless ``config.allow_leaky``; returns the columns trained with."""
    try:
        return check_leakage(report, allow_leaky=config.allow_leaky)
    except LeakageError:
        configure_tracking()
        experiment_id = ensure_experiment(config.experiment)
        with start_run(experiment_id):
            mlflow.set_tag("leadscore.job", "train")
            mlflow.set_tag("leadscore.stopped", "leakage guard")
            log_leakage(report, [])
            mlflow.end_run(status="FAILED")
        raise


def _leadscore_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("leadscore")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _pip_requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pkgs = ["lightgbm", "scikit-learn", "pandas", "numpy", "scipy", "pyarrow", "joblib", "duckdb",
            "pydantic", "pyyaml", "mlflow"]  # fmt: skip
    out = []
    for p in pkgs:
        try:
            out.append(f"{p}=={version(p)}")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            out.append(p)
    return out
