"""The two scorers behind one interface, and the MLflow pyfunc that returns both."""

from leadscore.models._lead_model import (
    CATEGORICAL_FEATURES,
    MODEL_FEATURES,
    NUMERIC_FEATURES,
    LeadModel,
    LeadModelParams,
    Reason,
)
from leadscore.models._pyfunc import LeadScoringModel, lead_signature, to_model_input
from leadscore.models._rules import RuleHit, RulesConfig, RuleScorer, load_rules
from leadscore.models._scoring import SCORE_COLUMNS, ScoringBundle, score_leads

__all__ = [
    "CATEGORICAL_FEATURES",
    "MODEL_FEATURES",
    "NUMERIC_FEATURES",
    "SCORE_COLUMNS",
    "LeadModel",
    "LeadModelParams",
    "LeadScoringModel",
    "Reason",
    "RuleHit",
    "RuleScorer",
    "RulesConfig",
    "ScoringBundle",
    "lead_signature",
    "load_rules",
    "score_leads",
    "to_model_input",
]
