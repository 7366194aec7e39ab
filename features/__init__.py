"""Warehouse tables to point-in-time lead frames: contract, validation, features, generator."""

from leadscore.features._attributes import derive_attributes, parse_title
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
from leadscore.features._point_in_time import (
    LEAD_ATTRIBUTE_COLUMNS,
    LeadFrame,
    build_lead_frame,
    lead_frame_columns,
    lead_frame_sql,
)
from leadscore.features._snapshots import quarter_starts
from leadscore.features._validation import ContractViolations, ValidationReport, validate_warehouse
from leadscore.features._warehouse import DEFAULT_WAREHOUSE, Warehouse, WarehouseURL

__all__ = [
    "DEFAULT_WAREHOUSE",
    "ENGAGEMENT_FEATURE_NAMES",
    "LEAD_ATTRIBUTE_COLUMNS",
    "ConfigError",
    "ContractViolations",
    "DataValidationError",
    "LeadFrame",
    "LeadscoreError",
    "MissingColumnsError",
    "MissingTableError",
    "ModelError",
    "ScoringError",
    "ValidationReport",
    "Warehouse",
    "WarehouseURL",
    "build_lead_frame",
    "derive_attributes",
    "engagement_features",
    "lead_frame_columns",
    "lead_frame_sql",
    "parse_title",
    "quarter_starts",
    "validate_warehouse",
]
