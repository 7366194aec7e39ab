"""The data contract: default table and column names, and the event vocabulary.

DESIGN.md section 2. These are the *default* names; a team maps its own names with a
contract file (a later issue). Nothing in here does work at import time.
"""

from __future__ import annotations

from typing import Final

CONTACTS: Final = "contacts"
EVENTS: Final = "events"
OUTCOMES: Final = "outcomes"
TRUTH: Final = "_truth"  # written by the synthetic generator only; no feature may read it
LEAD_SCORES: Final = "lead_scores"

CONTACT_COLUMNS: Final[tuple[str, ...]] = (
    "contact_id",
    "created_at",
    "title",
    "company_size",
    "industry",
    "country",
    "lead_source",
    "email_domain",
    "phone_valid",
    "buying_timeline",
    "requested_demo",
)
EVENT_COLUMNS: Final[tuple[str, ...]] = ("contact_id", "occurred_at", "event_type")
OUTCOME_COLUMNS: Final[tuple[str, ...]] = ("contact_id", "closed_at", "outcome")
OUTCOME_VALUES: Final[tuple[str, ...]] = ("won", "lost")

# Engagement vocabulary. High intent: signals of a real problem to solve.
HIGH_INTENT_EVENTS: Final[tuple[str, ...]] = (
    "pricing_page_view",
    "demo_request",
    "free_trial_start",
    "meeting_held",
)
# Borrowed interest: activity driven by wanting a free thing, not the product.
BORROWED_INTEREST_EVENTS: Final[tuple[str, ...]] = (
    "giveaway_entry",
    "prize_draw_entry",
    "event_lunch",
    "event_badge_scan",
)
OTHER_EVENTS: Final[tuple[str, ...]] = (
    "email_open",
    "email_click",
    "page_view",
    "content_download",
    "webinar_registered",
    "webinar_attended",
    "form_submit",
    "sales_touch",
)
EVENT_TYPES: Final[tuple[str, ...]] = OTHER_EVENTS + HIGH_INTENT_EVENTS + BORROWED_INTEREST_EVENTS
SALES_TOUCH: Final = "sales_touch"
# Sales' own work: never a feature of the handoff score (marketing does not know it then).
SALES_OWNED_EVENTS: Final[tuple[str, ...]] = ("sales_touch", "meeting_held")

BUYING_TIMELINES: Final[tuple[str, ...]] = (
    "0-3 months",
    "3-6 months",
    "6-12 months",
    "12+ months",
    "no timeline",
)
