"""Select, refit, calibrate: the one procedure that turns a split into the final model of a family.

Contract of :func:`fit_family`: given the labelled rows before the test period, as training
rows and the *latest window* (the validation rows, which come after them), and a model
family (:data:`FAMILIES`), it returns a :class:`FinalFit`: a calibrated model fitted on every
row before the test period, and what was done, in numbers and in words:

1. **select** on the latest window: LightGBM's tree count by early stopping on ROC AUC (the
   ranking; the calibration comes later) over one half of the latest window, trees grown on
   the training rows. Fewer than :data:`REFERENCE_TREES` trees (or the parameters' maximum,
   if lower) are kept only when the latest window shows they rank better: their ROC AUC
   there must beat that of :data:`REFERENCE_TREES` trees by a paired DeLong test
   (one-sided, p < 0.05); otherwise
   the window cannot tell the counts apart (it happens when it drifts away from the
   training rows: early stopping then keeps a tree or two, a model that barely ranks) and
   :data:`REFERENCE_TREES` are kept. The logistic family has nothing to select (``C`` is
   fixed on standardised columns); its ROC AUC on the latest window, fitted on the training
   rows, is measured for the record (:attr:`FinalFit.selection_auc`) unless
   ``measure_selection`` is False (a backtest fold whose models only score its test rows:
   no decision reads the figure, and the fit it needs is one of the family's five).
2. **refit** on every row before the test period (training rows and latest window):
   LightGBM with the chosen tree count scaled to the rows, ``max(1, round(trees x refit rows /
   training rows))`` (at the same learning rate more rows support more trees), the logistic
   family as it is.
3. **calibrate by cross-fitting**: the rows before the test period are cut into ``folds``
   parts by contact id (a contact's snapshots stay in one part); each part is scored by the
   same family fitted on the other parts (LightGBM with its trees scaled to those rows), and
   a Platt map is fitted on these out-of-fold scores against the labels.
4. **prior shift**: when the latest window's base rate differs from what the calibrated
   out-of-fold scores predict for it (a binomial test, ``|z| >= 3``, and at least 10% apart
   relatively), the calibration's logit is moved so that their mean on the latest window
   equals its base rate (:meth:`models.Calibrator.shifted_to_rate`), and the result says so.

**Negative sampling** (``sampling``, :class:`training._sampling.NegativeSampling`): when the
positive rate of the rows before the test period is below its threshold, every model of
steps 1-3 is fitted on every won row and a uniform sample of the others, weighted up to
their number (the weights enter LightGBM and the logistic regression, so they estimate the
full rows' probabilities); the selection reads the sampled latest window (ROC AUC does not
change in expectation under uniform sampling of one class). Only the sampled rows and every
row of the latest window are given cross-fitted scores (scoring the left-out negatives cost
as much as the fits): the Platt map is fitted on the sampled rows with their weights, which
keeps it on the original scale (its weighted mean equals the base rate of every row, as an
unweighted fit on every row would), and the prior shift reads every row of the latest window,
without weights. :attr:`FinalFit.sample` records what was kept.

The frames given are never changed. Every model is fitted with a fixed seed, so the same
rows give the same model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features import ConfigError
from leadscore.features._attributes import LeadColumns
from leadscore.features._spec import FeatureSpec
from leadscore.models import Calibrator, LeadModel, LeadModelParams, LogisticBaseline
from leadscore.models._baseline import LogisticParams
from leadscore.models._lead_model import BLOCK_ROWS
from leadscore.training._intervals import Z_95, Difference, auc_difference
from leadscore.training._sampling import NegativeSampling, Sample
from numpy.typing import NDArray
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

log = logging.getLogger(__name__)

FAMILIES: tuple[str, ...] = ("lightgbm", "logistic")
FAMILY_LABELS = {"lightgbm": "LightGBM", "logistic": "logistic regression"}
CALIBRATION_FOLDS = 3
SHIFT_MIN_Z = 3.0
"""How many standard errors apart the latest window's base rate and its prediction must be."""
SHIFT_MIN_RELATIVE = 0.10
"""... and by how much, relatively, before the calibration is moved to the latest window."""
SELECTION_METRIC = "auc"
REFERENCE_TREES = 50
"""Trees kept unless the latest window shows fewer rank better (at the default learning rate
of 0.05, 50 trees move a score about as far as LightGBM's own default of 100 at 0.1 half-way)."""

FamilyModel = LeadModel | LogisticBaseline


@dataclass(frozen=True)
class PriorShift:
    """The latest window's base rate against the calibrated prediction for it."""

    rows: int
    observed: float  # the latest window's base rate
    predicted: float  # the mean calibrated out-of-fold probability there, before any shift
    z: float
    applied: bool
    logit_shift: float  # added to the calibration's logit (0 when not applied)

    def sentence(self) -> str:
        """The check in words."""
        seen = (f"the latest window ({self.rows:,} rows) converted at {self.observed:.2%} where "
                f"the calibrated model predicted {self.predicted:.2%} (z = {self.z:+.1f})")  # fmt: skip
        if self.applied:
            return (f"Base rate moved: {seen}; recalibrated to the latest window's base rate "
                    f"(prior-shift correction, logit {self.logit_shift:+.2f}).")  # fmt: skip
        return (f"Base rate steady: {seen}; no prior-shift correction (it needs |z| >= "
                f"{SHIFT_MIN_Z:.0f} and {SHIFT_MIN_RELATIVE:.0%} apart).")  # fmt: skip


@dataclass
class FinalFit:
    """A family's final model and how it was chosen, refitted and calibrated."""

    family: str
    model: FamilyModel
    selection_rows: int  # the training rows the selection model was fitted on
    latest_rows: int  # the latest window's rows (selection, prior shift)
    selected_trees: int | None  # LightGBM: the tree count chosen on the latest window
    trees: int | None  # LightGBM: the refit's tree count
    refit_rows: int
    folds: int
    prior_shift: PriorShift
    selection_auc: float  # the selection model's ROC AUC on the latest window (NaN: not measured)
    oof_probability: NDArray[np.float64]  # calibrated out-of-fold, rows before the test period:
    # the rows fitted on (after sampling) and every latest-window row; NaN for the other rows
    selection_note: str = ""  # how the tree count was chosen, when early stopping was overruled
    sample: Sample | None = None  # the negative sampling of the rows the models were fitted on

    @property
    def label(self) -> str:
        """The family's name in words."""
        return FAMILY_LABELS[self.family]

    def description(self) -> str:
        """What was done, in words (the MLflow run and the console say this)."""
        if self.family == "lightgbm":
            assert self.selected_trees is not None and self.trees is not None
            chosen = (f"{self.selected_trees} tree(s) chosen on the latest window "
                      f"({self.latest_rows:,} rows; ROC AUC {self.selection_auc:.3f} there) after "
                      f"fitting on {self.selection_rows:,} earlier rows{self.selection_note}; refit on "
                      f"all {self.refit_rows:,} rows before the test period with {self.trees} "
                      f"tree(s) ({self.selected_trees} x {self.refit_rows:,} / "
                      f"{self.selection_rows:,} rows)")  # fmt: skip
        else:
            measured = ("not measured" if math.isnan(self.selection_auc) else
                        f"{self.selection_auc:.3f}")  # fmt: skip
            chosen = (f"regularised logistic regression (C = {self.model.params.C:g} on "  # type: ignore[union-attr]
                      f"standardised columns; ROC AUC {measured} on the latest "
                      f"window when fitted on the {self.selection_rows:,} rows before it); "
                      f"refit on all {self.refit_rows:,} rows before the test period")  # fmt: skip
        sampled = ""
        if self.sample is not None and self.sample.applied:
            sampled = (f" Fitted on {self.sample.description()}; the calibration on their "
                       "out-of-fold scores with those weights.")  # fmt: skip
        return (f"{self.label}: {chosen}; calibrated by Platt scaling on {self.folds}-fold "
                f"cross-fitted scores of those rows.{sampled} "
                f"{self.prior_shift.sentence()}")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (MLflow, the bundle's metadata)."""
        return {
            "family": self.family, "selection_rows": self.selection_rows,
            "latest_rows": self.latest_rows, "selected_trees": self.selected_trees,
            "trees": self.trees, "refit_rows": self.refit_rows, "calibration_folds": self.folds,
            "selection_auc": self.selection_auc,
            "sampling": None if self.sample is None else self.sample.to_dict(),
            "prior_shift": {"rows": self.prior_shift.rows, "observed": self.prior_shift.observed,
                            "predicted": self.prior_shift.predicted, "z": self.prior_shift.z,
                            "applied": self.prior_shift.applied,
                            "logit_shift": self.prior_shift.logit_shift},
            "description": self.description(),
        }  # fmt: skip


def fold_of(frame: pd.DataFrame, folds: int) -> NDArray[np.intp]:
    """Each row's cross-fitting part, 0 .. folds - 1: by a hash of its contact id as text
    (a contact's rows share a part), or by position without ids. Each distinct id is
    converted and hashed once (a contact has a row per snapshot), then spread to its rows."""
    if "contact_id" in frame.columns:
        codes, distinct = pd.factorize(frame["contact_id"], use_na_sentinel=False)
        hashed = pd.util.hash_pandas_object(pd.Series(distinct).astype(str), index=False)
        key = hashed.to_numpy()[codes]
    else:
        key = pd.util.hash_pandas_object(pd.Series(np.arange(len(frame))), index=False).to_numpy()
    return np.asarray(key % np.uint64(folds), dtype=np.intp)


def _auc(y: NDArray[np.float64], score: NDArray[np.float64]) -> float:
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else math.nan


def fit_family(
    family: str,
    train: pd.DataFrame,
    latest: pd.DataFrame,
    spec: FeatureSpec,
    *,
    params: LeadModelParams | None = None,
    logistic: LogisticParams | None = None,
    folds: int = CALIBRATION_FOLDS,
    sampling: NegativeSampling | None = None,
    progress: Callable[[str], None] | None = None,
    measure_selection: bool = True,
) -> FinalFit:
    """The family's final model on ``train`` + ``latest`` (see the module docstring)."""
    rows = pd.concat([train, latest], ignore_index=True)
    is_latest = np.arange(len(rows)) >= len(train)
    return fit_family_rows(family, rows, is_latest, spec, params=params, logistic=logistic,
                           folds=folds, sampling=sampling, progress=progress,
                           measure_selection=measure_selection)  # fmt: skip


def fit_family_rows(
    family: str,
    rows: pd.DataFrame,
    is_latest: NDArray[np.bool_],
    spec: FeatureSpec,
    *,
    params: LeadModelParams | None = None,
    logistic: LogisticParams | None = None,
    folds: int = CALIBRATION_FOLDS,
    sampling: NegativeSampling | None = None,
    progress: Callable[[str], None] | None = None,
    measure_selection: bool = True,
) -> FinalFit:
    """As :func:`fit_family`, on the rows before the test period in one frame: ``is_latest``
    marks the latest window's rows, the others are the training rows (no copy of either).
    ``measure_selection=False`` leaves the logistic family's :attr:`FinalFit.selection_auc`
    NaN instead of fitting a model on the training rows to measure it; every other figure
    and the model are the same either way (LightGBM's selection is always run: its tree
    count depends on it)."""
    say = progress or (lambda msg: log.info("%s", msg))
    if family not in FAMILIES:
        raise ConfigError(f"model family must be one of {list(FAMILIES)}, got {family!r}")
    if folds < 2:
        raise ConfigError(f"calibration folds must be 2 or more, got {folds!r}")
    params = replace(params or LeadModelParams(), stopping_metric=SELECTION_METRIC)
    logistic = logistic or LogisticParams()
    is_latest = np.asarray(is_latest, dtype=bool)
    y = rows["label"].to_numpy(dtype="float64")
    n_train = int((~is_latest).sum())
    # 0. negative sampling: every model below is fitted on these rows with these weights,
    #    and so is the calibration (the original scale)
    sample = (sampling or NegativeSampling()).plan(y)
    kept = np.zeros(len(rows), dtype=bool)
    kept[sample.rows] = True
    weight = np.ones(len(rows), dtype="float64")
    weight[sample.rows] = sample.weights
    if sample.applied:
        say(f"{FAMILY_LABELS[family]}: {sample.description()}")

    def weights(mask: NDArray[np.bool_]) -> NDArray[np.float64] | None:
        return weight[mask] if sample.applied else None

    def make(n_rows: int) -> Callable[[pd.DataFrame, NDArray[np.float64],
                                       NDArray[np.float64] | None], FamilyModel]:  # fmt: skip
        """A fitter for ``n_rows`` rows (LightGBM: the chosen trees scaled to them)."""
        if family == "logistic":
            return lambda X, t, w: LogisticBaseline(spec, logistic).fit(X, t, w)
        n_trees = max(1, round(selected * n_rows / n_train))
        return lambda X, t, w: LeadModel(params, spec).fit_trees(X, t, n_trees, w)

    # 1. select on the latest window
    selected: int = 0
    note = ""
    selection_auc = math.nan
    if family == "lightgbm" or measure_selection:
        on_train, on_latest = kept & ~is_latest, kept & is_latest
        train, latest = rows[on_train], rows[on_latest]
        y_train, y_latest = y[on_train], y[on_latest]
        if family == "lightgbm":
            say(f"LightGBM: choosing the tree count on the latest window ({len(latest):,} rows)")
            chooser = LeadModel(params, spec).fit(train, y_train, validation=(latest, y_latest),
                                                  sample_weight=weights(on_train),
                                                  validation_weight=weights(on_latest))  # fmt: skip
            selected, selection_auc, note = _tree_count(chooser, train, y_train, latest,
                                                        y_latest, weights(on_train))  # fmt: skip
        else:
            chooser_lr = LogisticBaseline(spec, logistic).fit(train, y_train, weights(on_train))
            selection_auc = _auc(y_latest, chooser_lr.raw_probability(latest))
        del train, latest
    # 3. calibrate by cross-fitting: the rows the models are fitted on, and every row of
    #    the latest window (the prior shift's), get an out-of-fold score
    scored = kept | is_latest
    part = fold_of(rows, folds)
    oof_raw = np.full(len(rows), np.nan, dtype="float64")
    for k in range(folds):
        held = part == k
        if not (0 < y[held].sum() < held.sum()) or not (0 < y[~held].sum() < (~held).sum()):
            raise ConfigError(
                f"cross-fitting the calibration needs won and lost rows in each of {folds} "
                f"parts of the {len(rows):,} rows before the test period; part {k + 1} has "
                f"{int(y[held].sum())} won of {int(held.sum())}"
            )
        fit_on = kept & ~held
        fitted = make(int((~held).sum()))(rows[fit_on], y[fit_on], weights(fit_on))
        positions = np.flatnonzero(held & scored)
        oof_raw[positions] = _raw_probability(fitted, rows, positions)
        del fitted, positions
    # the sampled rows with their weights: the original scale (every row without sampling)
    calibrator = Calibrator.platt(oof_raw[kept], y[kept], weights(kept))
    # 4. prior shift to the latest window when its base rate moved
    shift = _prior_shift(calibrator, oof_raw[is_latest], y[is_latest])
    if shift.applied:
        calibrator = calibrator.shifted(shift.logit_shift)
    # 2. refit on every row before the test period
    say(f"{FAMILY_LABELS[family]}: refitting on all {len(rows):,} rows before the test period"
        + (f" ({len(sample.rows):,} after negative sampling)" if sample.applied else ""))
    model = make(len(rows))(rows[kept], y[kept], weights(kept)).calibrate(calibrator)
    trees = model.best_iteration_ if isinstance(model, LeadModel) else None
    return FinalFit(
        family=family, model=model, selection_rows=n_train, latest_rows=int(is_latest.sum()),
        selected_trees=selected if family == "lightgbm" else None, trees=trees,
        refit_rows=len(rows), folds=folds, prior_shift=shift, selection_auc=selection_auc,
        oof_probability=calibrator.apply(oof_raw), selection_note=note, sample=sample,
    )  # fmt: skip


def _raw_probability(model: FamilyModel, rows: pd.DataFrame,
                     positions: NDArray[np.intp]) -> NDArray[np.float64]:  # fmt: skip
    """``model``'s uncalibrated probability of the rows at ``positions``, taken and encoded
    :data:`models._lead_model.BLOCK_ROWS` rows at a time (one take of every column at all the
    positions cost as much as the scoring; the matrix of every row would be as large as the
    frame)."""
    columns = LeadColumns.of(rows)
    out = np.empty(len(positions), dtype="float64")
    for start in range(0, len(positions), BLOCK_ROWS):
        block = positions[start:start + BLOCK_ROWS]
        out[start:start + len(block)] = model.raw_probability(columns.take(block))
    return out


def _tree_count(chooser: LeadModel, train: pd.DataFrame, y_train: NDArray[np.float64],
                latest: pd.DataFrame, y: NDArray[np.float64],
                weight: NDArray[np.float64] | None = None) -> tuple[int, float, str]:  # fmt: skip
    """The tree count, its ROC AUC on the latest window, and how it was chosen (see the
    module docstring). ``chooser`` is early-stopped on the latest window; when it keeps
    fewer than :data:`REFERENCE_TREES`, a model of that many trees is grown on the same
    training rows to test the two against each other on the latest window."""
    stopped = chooser.best_iteration_
    few = chooser.raw_probability(latest)
    most = min(REFERENCE_TREES, chooser.params.n_estimators)  # never above the given maximum
    if stopped >= most:
        return stopped, _auc(y, few), " by early stopping"
    reference = LeadModel(chooser.params, chooser.spec).fit_trees(train, y_train, most, weight)
    many = reference.raw_probability(latest)
    d = auc_difference([(y, few, many)], f"{stopped} trees", f"{most} trees",
                       "the latest window")  # fmt: skip
    p_value = _one_sided_p(d)
    if p_value < 0.05:
        return stopped, d.a_value, (f" by early stopping ({stopped} rank better there than "
                                    f"{most}: ROC AUC {d.a_value:.3f} vs {d.b_value:.3f}, "
                                    f"one-sided p = {p_value:.3f})")  # fmt: skip
    return most, d.b_value, (
        f" (early stopping preferred {stopped}, which do not rank the latest window better "
        f"than {most}: ROC AUC {d.a_value:.3f} vs {d.b_value:.3f}, one-sided p = "
        f"{p_value:.2f}; {most} kept)")  # fmt: skip


def _one_sided_p(d: Difference) -> float:
    """P(a difference at least this large | no difference), from its 95% interval."""
    se = (d.high - d.low) / (2 * Z_95)
    if not se > 0:
        return 0.0 if d.estimate > 0 else 1.0
    return float(norm.sf(d.estimate / se))


def _prior_shift(calibrator: Calibrator, raw: NDArray[np.float64],
                 y: NDArray[np.float64]) -> PriorShift:  # fmt: skip
    """Test the latest window's base rate against the calibrated prediction; the shift that
    would match them (applied only when they differ clearly, see the module docstring)."""
    n = len(y)
    observed = float(y.mean()) if n else math.nan
    predicted = float(calibrator.apply(raw).mean()) if n else math.nan
    if not n or not 0 < observed < 1:
        return PriorShift(n, observed, predicted, 0.0, False, 0.0)
    se = math.sqrt(predicted * (1 - predicted) / n)
    z = (observed - predicted) / se if se > 0 else math.inf
    apart = abs(observed - predicted) >= SHIFT_MIN_RELATIVE * predicted
    if abs(z) < SHIFT_MIN_Z or not apart:
        return PriorShift(n, observed, predicted, z, False, 0.0)
    moved = calibrator.shifted_to_rate(raw, observed)
    return PriorShift(n, observed, predicted, z, True, moved.shift - calibrator.shift)
