"""ExistingScore: a score the team's CRM already has, compared like the rules.

Contract: ``ExistingScore(column)`` reads lead-row column ``column`` as numbers (text such
as ``"1,200"`` is read as 1200; anything unreadable is a gap). Gaps score *lowest*: below
every real score, so a lead without a score is never ranked above one with it.
:attr:`coverage_` (set by :meth:`fit`) is the share of rows that had a score. ``explain``
gives one reason per row: the score itself, or that it is missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from leadscore.features._errors import MissingColumnsError
from leadscore.models._lead_model import Reason
from numpy.typing import ArrayLike, NDArray


class ExistingScore:
    """The team's own lead score as a scorer (see the module docstring)."""

    calibrated = False

    def __init__(self, column: str, label: str | None = None) -> None:
        self.column = column
        self.label = label or column
        self.name = "existing_score"

    def _values(self, X: pd.DataFrame) -> NDArray[np.float64]:
        if self.column not in X.columns:
            raise MissingColumnsError("lead rows", [self.column], [self.column])
        values = X[self.column]
        if not pd.api.types.is_numeric_dtype(values):
            values = values.astype("string").str.replace(",", "", regex=False)
        out = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan,
                                                              copy=True)  # fmt: skip
        out[~np.isfinite(out)] = np.nan
        return out

    def fit(self, X: pd.DataFrame, y: ArrayLike | None = None) -> ExistingScore:
        """Measure coverage on ``X`` (nothing is learned)."""
        values = self._values(X)
        self.coverage_ = float(np.isfinite(values).mean()) if len(values) else 0.0
        finite = values[np.isfinite(values)]
        self.floor_ = float(finite.min()) - 1.0 if finite.size else -1.0
        return self

    def score(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """The team's score per row; gaps get a value below every score seen."""
        values = self._values(X)
        finite = values[np.isfinite(values)]
        floor = min(getattr(self, "floor_", 0.0), float(finite.min()) - 1.0 if finite.size else 0.0)
        return np.where(np.isfinite(values), values, floor)

    def explain(self, X: pd.DataFrame, top_n: int = 3) -> list[list[Reason]]:
        """One reason per row: the score, or that it has none."""
        values = self._values(X)
        return [[Reason(self.column, None if np.isnan(v) else float(v), 0.0,
                        f"{self.label}: {'missing' if np.isnan(v) else f'{v:g}'}")]
                for v in values]  # fmt: skip
