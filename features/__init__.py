"""A team's data to point-in-time lead frames: contract, import, spec, features, generator."""

from leadscore.features._attributes import derive_attributes, parse_title
from leadscore.features._contract import Contract, default_contract, load_contract
from leadscore.features._definitions import ENGAGEMENT_FEATURE_NAMES, engagement_features
from leadscore.features._errors import (
    ConfigError,
    DataValidationError,
    LeadscoreError,
    MissingColumnsError,
    MissingTableError,
    ModelError,
    ScoringError,
)
from leadscore.features._import import ImportResult, import_tables
from leadscore.features._in_memory import point_in_time_values
from leadscore.features._point_in_time import (
    LEAD_ATTRIBUTE_COLUMNS,
    LeadFrame,
    build_handoff_frame,
    build_lead_frame,
    lead_frame_columns,
    lead_frame_sql,
)
from leadscore.features._snapshots import quarter_starts
from leadscore.features._spec import AttributeFeature, FeatureSpec, demo_spec, spec_for
from leadscore.features._validation import ContractViolations, ValidationReport, validate_warehouse
from leadscore.features._warehouse import DEFAULT_WAREHOUSE, Warehouse, WarehouseURL

__all__ = [
    "DEFAULT_WAREHOUSE",
    "ENGAGEMENT_FEATURE_NAMES",
    "LEAD_ATTRIBUTE_COLUMNS",
    "AttributeFeature",
    "ConfigError",
    "Contract",
    "ContractViolations",
    "DataValidationError",
    "FeatureSpec",
    "ImportResult",
    "LeadFrame",
    "LeadscoreError",
    "MissingColumnsError",
    "MissingTableError",
    "ModelError",
    "ScoringError",
    "ValidationReport",
    "Warehouse",
    "WarehouseURL",
    "build_handoff_frame",
    "build_lead_frame",
    "default_contract",
    "demo_spec",
    "derive_attributes",
    "engagement_features",
    "import_tables",
    "lead_frame_columns",
    "lead_frame_sql",
    "load_contract",
    "parse_title",
    "point_in_time_values",
    "quarter_starts",
    "spec_for",
    "validate_warehouse",
]
