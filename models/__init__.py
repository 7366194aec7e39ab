"""The scorers behind one interface, and the MLflow pyfunc that returns them side by side."""

from leadscore.models._baseline import LogisticBaseline
from leadscore.models._calibration import Calibrator
from leadscore.models._existing_score import ExistingScore
from leadscore.models._lead_model import LeadModel, LeadModelParams, Reason
from leadscore.models._pyfunc import LeadScoringModel, lead_signature, to_model_input
from leadscore.models._rules import RuleHit, RuleScorer
from leadscore.models._rules_file import RulesConfig, load_rules
from leadscore.models._scorer import Scorer
from leadscore.models._scoring import SCORE_COLUMNS, ScoringBundle, score_leads

__all__ = [
    "SCORE_COLUMNS",
    "Calibrator",
    "ExistingScore",
    "LeadModel",
    "LeadModelParams",
    "LeadScoringModel",
    "LogisticBaseline",
    "Reason",
    "RuleHit",
    "RuleScorer",
    "RulesConfig",
    "Scorer",
    "ScoringBundle",
    "lead_signature",
    "load_rules",
    "score_leads",
    "to_model_input",
]
