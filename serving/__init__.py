"""Scoring where the leads are: batch in the warehouse, and the ``leadscore`` CLI."""

from leadscore.serving._batch import LEAD_SCORES_COLUMNS, ScoreConfig, ScoreResult, score_warehouse

__all__ = ["LEAD_SCORES_COLUMNS", "ScoreConfig", "ScoreResult", "score_warehouse"]
