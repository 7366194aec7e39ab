"""Probability calibration kept as data: Platt scaling or an isotonic step function.

Contract: :meth:`Calibrator.platt` and :meth:`Calibrator.isotonic` fit a map from raw
scores to P(won) on held-out rows; :meth:`Calibrator.apply` maps new scores, one per input,
in order; :meth:`Calibrator.to_dict` / :meth:`Calibrator.from_dict` round-trip it through
JSON exactly (floats as written by ``json``), so a saved model scores the same numbers.

* ``platt``: ``sigmoid(a * logit(raw) + b)``, fitted by scikit-learn's (nearly
  unregularised) logistic regression; keeps the ranking and never returns exactly 0 or 1.
* ``isotonic``: scikit-learn's isotonic regression, kept as its thresholds and applied by
  linear interpolation with clipping (what ``IsotonicRegression(out_of_bounds="clip")``
  computes).
* ``shift``: an optional change of base rate applied after the map (the logit moves by a
  constant), for when the latest window's base rate has moved: :meth:`Calibrator.with_prior_shift`
  moves it from one base rate to another (``log(new odds / old odds)``);
  :meth:`Calibrator.shifted_to_rate` finds the move that makes the mean probability over
  given scores equal a given rate (calibration in the large on the latest window).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from leadscore.features._errors import ModelError
from numpy.typing import ArrayLike, NDArray
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression


def logit(p: ArrayLike) -> NDArray[np.float64]:
    """log(p / (1 - p)), with p clipped to [1e-9, 1 - 1e-9]."""
    clipped = np.clip(np.asarray(p, dtype="float64"), 1e-9, 1 - 1e-9)
    return np.asarray(np.log(clipped / (1 - clipped)))


@dataclass(frozen=True)
class Calibrator:
    """A fitted calibration map (see the module docstring)."""

    kind: Literal["platt", "isotonic", "identity"]
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    shift: float = 0.0  # added to the logit after the map (prior-shift correction)

    @classmethod
    def platt(cls, raw: ArrayLike, y: ArrayLike, weight: ArrayLike | None = None) -> Calibrator:
        """Platt scaling of ``raw`` probabilities against 0/1 labels ``y`` (rows weighted by
        ``weight`` when given: a sample of the negatives weighted up to their number)."""
        target = np.asarray(y, dtype="float64")
        if target.min(initial=1.0) == target.max(initial=0.0):
            raise ModelError("calibration rows need both won and not-won leads")
        lr = LogisticRegression(C=1e6)
        lr.fit(logit(raw).reshape(-1, 1), target,
               sample_weight=None if weight is None else np.asarray(weight, dtype="float64"))
        return cls("platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))

    @classmethod
    def isotonic(cls, raw: ArrayLike, y: ArrayLike, weight: ArrayLike | None = None
                 ) -> Calibrator:  # fmt: skip
        """A non-decreasing step map of ``raw`` scores against 0/1 labels ``y`` (rows
        weighted by ``weight`` when given)."""
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(np.asarray(raw, dtype="float64"), np.asarray(y, dtype="float64"),
                sample_weight=None if weight is None else np.asarray(weight, dtype="float64"))
        return cls("isotonic", x=tuple(map(float, iso.X_thresholds_)),
                   y=tuple(map(float, iso.y_thresholds_)))  # fmt: skip

    def with_prior_shift(self, old_rate: float, new_rate: float) -> Calibrator:
        """The same map, moved from base rate ``old_rate`` to ``new_rate``."""
        for name, rate in (("old_rate", old_rate), ("new_rate", new_rate)):
            if not 0 < rate < 1:
                raise ModelError(f"{name} must be strictly between 0 and 1, got {rate!r}")
        shift = math.log(new_rate / (1 - new_rate)) - math.log(old_rate / (1 - old_rate))
        return Calibrator(self.kind, self.a, self.b, self.x, self.y, self.shift + shift)

    def shifted(self, delta: float) -> Calibrator:
        """The same map with ``delta`` more added to its logit."""
        if not math.isfinite(delta):
            raise ModelError(f"a calibration shift must be a finite number, got {delta!r}")
        return Calibrator(self.kind, self.a, self.b, self.x, self.y, self.shift + delta)

    def shifted_to_rate(self, raw: ArrayLike, rate: float) -> Calibrator:
        """The same map moved (one constant added to its logit) so that the mean calibrated
        probability over ``raw`` equals ``rate``: the prior-shift correction to a window
        whose base rate is ``rate``. Solved by Newton's method on the mean (monotone in
        the shift), to 1e-10."""
        if not 0 < rate < 1:
            raise ModelError(f"rate must be strictly between 0 and 1, got {rate!r}")
        values = np.asarray(raw, dtype="float64")
        if values.size == 0:
            raise ModelError("a prior shift needs scores to match the rate on, got none")
        z = logit(self.apply(values))
        delta = math.log(rate / (1 - rate)) - float(np.mean(z))  # a start near the answer
        for _ in range(100):
            p = 1.0 / (1.0 + np.exp(-(z + delta)))
            gap = float(p.mean()) - rate
            if abs(gap) < 1e-10:
                break
            slope = float((p * (1 - p)).mean())
            step = gap / max(slope, 1e-12)
            delta -= max(min(step, 5.0), -5.0)  # bounded steps: the mean saturates far out
        return self.shifted(delta)

    def apply(self, raw: ArrayLike) -> NDArray[np.float64]:
        """Calibrated probabilities for ``raw`` scores, one per input, in order."""
        values = np.asarray(raw, dtype="float64")
        if self.kind == "platt":
            # by hand: sklearn's input checks cost more than the arithmetic for one lead
            z = self.a * logit(values) + self.b + self.shift
            return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype="float64")
        if self.kind == "isotonic":
            out = np.interp(values, np.asarray(self.x), np.asarray(self.y))
        else:
            out = values
        if self.shift:
            out = 1.0 / (1.0 + np.exp(-(logit(out) + self.shift)))
        return np.asarray(out, dtype="float64")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (see :meth:`from_dict`)."""
        return {"kind": self.kind, "a": self.a, "b": self.b, "x": list(self.x),
                "y": list(self.y), "shift": self.shift}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Read :meth:`to_dict`'s output."""
        kind = data.get("kind")
        if kind not in ("platt", "isotonic", "identity"):
            raise ModelError(f"calibrator kind must be platt, isotonic or identity, got {kind!r}")
        return cls(kind, float(data["a"]), float(data["b"]), tuple(map(float, data["x"])),
                   tuple(map(float, data["y"])), float(data.get("shift", 0.0)))  # fmt: skip
