"""The one interface every scorer of a lead implements, so evaluation never asks which.

Contract: a :class:`Scorer` has a ``name``; ``score(X)`` returns one float per row of lead
rows ``X``, in order, higher meaning a better lead (a probability, points, the team's own
score); ``explain(X)`` returns per row the factors behind that score as
:class:`~models._lead_model.Reason` objects (feature, value, contribution, readable text),
strongest first. Scorers that learn from labels have ``fit``; those whose score is a
calibrated probability say so with ``calibrated``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
from leadscore.models._lead_model import Reason
from numpy.typing import NDArray


@runtime_checkable
class Scorer(Protocol):
    """See the module docstring."""

    name: str
    calibrated: bool

    def score(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """One score per row, in order; higher is a better lead."""
        ...

    def explain(self, X: pd.DataFrame, top_n: int = 3) -> list[list[Reason]]:
        """Per row, the factors behind its score, strongest first."""
        ...
