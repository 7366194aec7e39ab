"""Synthetic CRM generator: the warehouse tables of DESIGN.md section 2, with known truth.

Contract:

* :func:`generate_crm_chunks` yields :class:`CrmTables` for contacts in chunks of at most
  ``chunk_size`` with contiguous ids ``1..n_contacts`` (ids increase with ``created_at``).
  The output is deterministic for the same ``(config, chunk_size)``; each chunk draws from
  its own stream ``SeedSequence(seed, spawn_key=(chunk_index,))``.
* ``contacts`` has the columns of :data:`features._schema.CONTACT_COLUMNS`; ``events`` has
  ``contact_id, occurred_at, event_type`` with types from :data:`~features._schema.EVENT_TYPES`
  and ``created_at <= occurred_at < min(closed_at, end)``; ``outcomes`` has at most one row per
  contact with ``closed_at < end``; ``truth`` (table ``_truth``) holds the latent
  ``propensity`` (P(won ever) before recycling, given everything drawn), ``close_probability``
  (P(won or lost by sales ever)), the Gamma sales-cycle parameters, ``recycle_days`` (the age
  at which the lead is recorded as lost for inactivity unless sales closed it first) and
  ``handoff_propensity`` (P(won ever) as known at the handoff). No feature may read ``_truth``.
* Events depend only on the latent state (intent, fit, source, reachability, speed to lead)
  and on sales' work (worked and reached leads get touches and meetings), never on the
  realised outcome or its timing (they are only cut off at ``closed_at``). Sales work a lead
  with a probability from its routing points (what marketing knows at the handoff, MQLs
  first) times the week's capacity; only worked leads can close. The outcome is drawn with
  probabilities ``(p_w, p_l, 1 - p_w - p_l)`` and closes ``D ~ Gamma(cycle_shape,
  cycle_scale_days)`` days after creation if that is before the recycling time ``R`` (the
  first moment from ``RECYCLE_REVIEW_DAYS`` on with no event for ``RECYCLE_INACTIVE_DAYS``);
  otherwise the lead is lost at ``R``. ``R`` depends on the events only, so
  :func:`ceiling_scores` is the Bayes-optimal probability of a pipeline label given the
  latent state, and :func:`handoff_ceiling_scores` that of a handoff label given what the
  generator knows at the handoff.
* :func:`write_crm` (re)creates ``contacts``, ``events``, ``outcomes`` and ``_truth`` in one
  DuckDB transaction: either all four tables are replaced or nothing changes.

Mechanisms (parameters in the constants block below): fit from free-text titles, company
size, vertical, geography and email domain; a latent intent that drives high-intent events
and return visits; borrowed-interest sources (giveaways, prize draws, trade shows, event
lunches) with lots of low-intent activity; noisy demo answers and buying timelines; speed to
lead that really changes the win odds; an arrival event and first visit at creation; sales
routing by rule grade under weekly capacity (selective labels); recycling of inactive leads
(the open pool stays young); drift in the source mix, the base rate and a new channel
(``ai_assistant``) in the last three quarters. Calibrated (50,000 contacts, seeds 1 and 7,
90-day horizon): handoff ceiling ROC AUC about 0.87, new-lead base rate about 3.6%; at
every quarter start under 1% of the open pool is older than a year.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from leadscore.features._errors import ConfigError, DataValidationError
from leadscore.features._schema import (
    BUYING_TIMELINES,
    CONTACTS,
    EVENT_TYPES,
    EVENTS,
    OUTCOMES,
    TRUTH,
)
from scipy import stats

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Generator parameters. Every number that shapes the synthetic world lives here.
# ---------------------------------------------------------------------------------------------

SECONDS_PER_DAY = 86_400
VOLUME_GROWTH = 0.6  # creation rate at the end of the window is 1.6x the rate at the start

# Lead sources: (base weight, intent shift, extra win log-odds, touch-delay log shift).
LEAD_SOURCES: dict[str, tuple[float, float, float, float]] = {
    "organic_search": (0.18, 0.30, 0.00, 0.0),
    "paid_search": (0.15, 0.00, -0.10, 0.1),
    "referral": (0.07, 0.60, 0.40, -0.3),
    "content_syndication": (0.10, -0.30, -0.20, 0.7),
    "webinar": (0.08, 0.10, 0.00, 0.4),
    "partner": (0.06, 0.30, 0.20, 0.0),
    "outbound": (0.10, -0.40, -0.20, 0.0),
    "giveaway": (0.07, -1.20, -0.30, 0.8),
    "prize_draw": (0.05, -1.30, -0.30, 0.8),
    "trade_show": (0.09, -0.60, -0.10, 1.2),
    "event_lunch": (0.05, -1.00, -0.30, 1.0),
    "ai_assistant": (0.10, 0.50, 0.10, -0.2),
}
BORROWED_INTEREST_SOURCES: tuple[str, ...] = ("giveaway", "prize_draw", "trade_show", "event_lunch")
BORROWED_SHARE_GROWTH = 1.5  # borrowed-interest source weights grow by this factor over the window
NEW_CHANNEL = "ai_assistant"
NEW_CHANNEL_QUARTERS = 3  # the new channel exists only in the last 3 quarters of [start, end)

# Titles: templates per (level, function). parse_title must recover the level of every one.
TITLE_TEMPLATES: dict[str, tuple[tuple[str | None, str], ...]] = {
    "c_level": (
        ("CEO", "executive"), ("Chief Executive Officer", "executive"),
        ("Founder & CEO", "executive"), ("Co-Founder", "executive"), ("President", "executive"),
        ("Owner", "executive"), ("Managing Director", "executive"),
        ("Chief Technology Officer", "engineering"), ("CTO", "engineering"),
        ("CFO", "finance"), ("Chief Financial Officer", "finance"),
        ("CMO", "marketing"), ("Chief Marketing Officer", "marketing"),
        ("CIO", "it"), ("Chief Information Officer", "it"), ("COO", "operations"),
        ("Chief Revenue Officer", "sales"),
    ),
    "vp": (
        ("VP Sales", "sales"), ("VP of Sales", "sales"), ("EVP Sales", "sales"),
        ("Vice President, Marketing", "marketing"), ("VP Marketing", "marketing"),
        ("SVP Engineering", "engineering"), ("VP, Information Technology", "it"),
        ("VP Finance", "finance"), ("Vice President of Operations", "operations"),
        ("VP People", "hr"),
    ),
    "director": (
        ("Director, Finance", "finance"), ("Head of IT", "it"), ("IT Director", "it"),
        ("Director of Marketing", "marketing"), ("Marketing Director", "marketing"),
        ("Sales Director", "sales"), ("Head of Sales", "sales"),
        ("Director of Engineering", "engineering"), ("Director, HR", "hr"),
        ("Head of Operations", "operations"),
    ),
    "manager": (
        ("Sales Manager", "sales"), ("Account Manager", "sales"),
        ("Marketing Manager", "marketing"), ("Sr. Marketing Manager", "marketing"),
        ("IT Manager", "it"), ("Engineering Manager", "engineering"),
        ("Team Lead, Software", "engineering"), ("Product Manager", "engineering"),
        ("Finance Manager", "finance"), ("Operations Manager", "operations"),
        ("HR Manager", "hr"),
    ),
    "individual": (
        ("Sr. Software Engineer", "engineering"), ("Software Engineer", "engineering"),
        ("Developer", "engineering"), ("Data Scientist", "engineering"),
        ("Account Executive", "sales"), ("Sales Representative", "sales"), ("SDR", "sales"),
        ("Business Development Representative", "sales"),
        ("Marketing Specialist", "marketing"), ("Content Marketing Associate", "marketing"),
        ("Financial Analyst", "finance"), ("Accountant", "finance"),
        ("Systems Administrator", "it"), ("IT Specialist", "it"),
        ("Operations Coordinator", "operations"), ("HR Specialist", "hr"),
        ("Consultant", "other"),
    ),
    "intern": (
        ("Marketing Intern", "marketing"), ("Sales Intern", "sales"),
        ("Software Engineering Intern", "engineering"), ("Finance Intern", "finance"),
        ("Intern", "other"), ("Trainee", "other"),
    ),
    "student": (
        ("Student", "other"), ("student", "other"), ("MBA Student", "other"),
        ("Graduate Student", "other"), ("PhD Candidate", "other"), ("Undergraduate", "other"),
    ),
    "unknown": (
        (None, "unknown"), ("", "unknown"), ("n/a", "unknown"), ("N/A", "unknown"),
        ("-", "unknown"), ("Freelancer", "other"), ("Self-employed", "other"),
    ),
}  # fmt: skip
TITLE_LEVEL_ORDER: tuple[str, ...] = tuple(TITLE_TEMPLATES)
# Level mix for ordinary and borrowed-interest sources (same order as TITLE_LEVEL_ORDER).
LEVEL_WEIGHTS = np.array([0.05, 0.06, 0.12, 0.20, 0.33, 0.04, 0.05, 0.15])
LEVEL_WEIGHTS_BORROWED = np.array([0.03, 0.02, 0.05, 0.12, 0.33, 0.12, 0.20, 0.13])
# Real fit by level: directors and VPs buy; CEOs buy less than rules think (small firms).
LEVEL_FIT = {"c_level": 0.5, "vp": 1.0, "director": 0.9, "manager": 0.4, "individual": 0.0,
             "intern": -1.2, "student": -1.5, "unknown": -0.4}  # fmt: skip
FUNCTION_FIT = {"sales": 0.5, "marketing": 0.5, "it": 0.3, "engineering": 0.2, "executive": 0.4,
                "finance": 0.0, "operations": 0.0, "hr": -0.3, "other": -0.3,
                "unknown": -0.2}  # fmt: skip
C_LEVEL_SMALL_FIRM_FIT = -0.8  # a "CEO" of a company of <= 10 people is rarely a buyer

# Company size: lognormal employees; reported NULL for some contacts (latent size still acts).
SIZE_LOG_MEAN, SIZE_LOG_SD = 4.3, 1.9
SIZE_NULL_RATE = 0.12
SIZE_FIT_EDGES = np.array([10, 50, 200, 1000, 5000])
SIZE_FIT = np.array([-0.8, -0.2, 0.3, 0.5, 0.4, 0.0])  # 5000+ enterprises: long, rarely won

TARGET_INDUSTRIES = ("software", "financial_services", "healthcare", "manufacturing")
OTHER_INDUSTRIES = ("education", "government", "retail", "nonprofit", "hospitality", "other")
INDUSTRY_WEIGHTS = np.array([0.20, 0.12, 0.10, 0.12, 0.10, 0.06, 0.09, 0.06, 0.05, 0.10])
INDUSTRY_FIT = (0.4, -0.3)  # target vertical, other
TARGET_COUNTRIES = ("US", "GB", "DE", "CA", "AU", "NL")
OTHER_COUNTRIES = ("IN", "BR", "FR", "ES", "MX", "NG", "PH", "IT", "PL", "ZA")
COUNTRY_WEIGHTS = np.array(
    [0.36, 0.09, 0.07, 0.06, 0.04, 0.03, 0.10, 0.05, 0.04, 0.03, 0.03, 0.03, 0.03, 0.02, 0.01, 0.01]
)
COUNTRY_FIT = (0.3, -0.4)

FREE_DOMAIN_CHOICES = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com",
                       "aol.com", "gmx.de", "protonmail.com")  # fmt: skip
FREE_DOMAIN_WEIGHTS = np.array([0.50, 0.13, 0.12, 0.10, 0.06, 0.03, 0.03, 0.03])
COMPANY_WORDS = ("acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne",
                 "tyrell", "cyberdyne", "soylent", "wonka", "aperture", "massive", "dunder",
                 "pied", "oscorp", "gringotts", "monarch", "zenith", "apex", "nimbus", "vertex",
                 "northwind", "contoso", "fabrikam", "tailspin", "adatum", "lucerne",
                 "proseware")  # fmt: skip
COMPANIES_PER_WORD = 20  # 600 company domains: accounts have many contacts, as in B2B
FREE_MAIL_LOGIT = -1.4  # baseline log-odds of a free-mail address
FREE_MAIL_STUDENT_INTERN = 2.6
FREE_MAIL_BORROWED = 1.0
FREE_MAIL_FIT = -0.5  # fit penalty of a free-mail address

# Latent intent: I = INTENT_FIT * fit + source shift + N(0, 1).
INTENT_FIT = 0.4

# Reachability: about half the leads are never reached.
PHONE_VALID_LOGIT = 0.05
PHONE_VALID_FIT = 0.25
REACH_IF_PHONE = 0.82
REACH_BY_EMAIL_LOGIT, REACH_BY_EMAIL_INTENT = -2.0, 0.8

# Speed to lead: hours_to_touch ~ lognormal; slower for some sources and in busy quarters.
TOUCH_LOG_HOURS, TOUCH_LOG_SD, TOUCH_INTENT = np.log(4.0), 1.3, -0.2
BUSY_QUARTER_LOG_SD = 0.4
SPEED_TO_LEAD_SLOPE = 0.35  # win odds *= exp(-0.35 * log1p(hours / 4))

# Quarter drift of the base rate: a per-quarter multiplier on the win odds.
QUARTER_ODDS_RANGE = (0.8, 1.25)

# Self-reported answers.
TIMELINE_NULL_RATE, TIMELINE_NOISE_SD = 0.45, 1.2
TIMELINE_CUTS = np.array([-1.0, -0.3, 0.5, 1.3])  # ascending; maps to BUYING_TIMELINES reversed
DEMO_LOGIT, DEMO_INTENT = -1.6, 0.9
DEMO_PRETICKED_BORROWED = 0.6  # giveaway forms with the box pre-ticked

# Sales work leads partly in rule-grade order: routing points from what marketing knows at the
# handoff (title, vertical, country, size, email, phone, timeline, the demo tick), MQLs first,
# some randomness, and a weekly capacity that does not grow with the lead volume. Only worked
# leads can close; a worked lead that is never reached almost never wins.
ROUTING_LEVEL_POINTS = {"c_level": 15, "vp": 15, "director": 10, "manager": 5, "individual": 0,
                        "intern": -10, "student": -15, "unknown": 0}  # fmt: skip
ROUTING_TIMELINE_POINTS = (15, 10, 5, 0, 0)  # BUYING_TIMELINES order; missing: 0
ROUTING_DEMO_POINTS = 20
WORK_LOGIT, WORK_PER_10_POINTS, WORK_CENTER_POINTS = 0.2, 0.9, 35.0
WEEK_CAPACITY_LOG_SD = 0.15  # weekly capacity: exp(N(0, sd)) / (1 + VOLUME_GROWTH * u), at most 1
WEEK_CAPACITY_BASE = 0.95
BUSY_WEEK_DELAY = 1.0  # touch delay log shift per unit of -log(weekly capacity)

# What sales learn in discovery and nobody knows at the handoff (budget, a champion, timing):
# a log-odds shift of the win, N(0, DEAL_NOISE_SD). The main knob of the handoff ceiling.
DEAL_NOISE_SD = 2.2

# Arrival: the lead is created by a form or a scan; its arrival event and a short first visit
# are in the data at once (the handoff score sees them).
ARRIVAL_EVENTS = {"organic_search": "form_submit", "paid_search": "form_submit",
                  "referral": "form_submit", "ai_assistant": "form_submit",
                  "content_syndication": "content_download", "webinar": "webinar_registered",
                  "giveaway": "giveaway_entry", "prize_draw": "prize_draw_entry",
                  "trade_show": "event_badge_scan", "event_lunch": "event_lunch"}  # fmt: skip
ARRIVAL_PAGES_LOGIT, ARRIVAL_PAGES_INTENT = 1.2, 1.0  # log mean of page views on arrival
ARRIVAL_PRICING_LOGIT, ARRIVAL_PRICING_INTENT = -2.0, 1.4
ARRIVAL_MINUTES = 30.0

# Recycling: from RECYCLE_REVIEW_DAYS after creation on, a lead with no activity for
# RECYCLE_INACTIVE_DAYS is recorded as lost (disqualified/recycled) at the end of that gap.
RECYCLE_REVIEW_DAYS, RECYCLE_INACTIVE_DAYS = 120, 45

# Outcome. Win log-odds for reached leads; never-reached leads almost never win.
WIN_LOGIT, WIN_FIT, WIN_INTENT = -2.6, 0.7, 1.1
UNREACHED_WIN_LOGIT, UNREACHED_WIN_INTENT = -6.0, 0.5
LOSS_PEAK, LOSS_CENTER, LOSS_WIDTH = 0.30, 0.3, 1.0  # lost opportunities peak at mid intent
UNREACHED_LOSS = 0.01
MAX_CLOSE_PROBABILITY = 0.97
CYCLE_SHAPE = 2.0
CYCLE_SCALE_DAYS, CYCLE_SCALE_SIZE_SLOPE, CYCLE_SCALE_RANGE = 25.0, 0.12, (12.0, 60.0)
AMOUNT_LOG_MEAN, AMOUNT_SIZE_SLOPE, AMOUNT_LOG_SD = np.log(8_000.0), 0.35, 0.6

# Engagement decay after creation: a mixture of a fast and a slow exponential (long tail).
DECAY_TAUS_DAYS = np.array([45.0, 240.0])
DECAY_WEIGHTS = np.array([0.8, 0.2])
AFTER_TOUCH_TAU_DAYS = 25.0  # meetings and follow-up touches after the first sales touch

# Lifetime expected counts per event type: base * exp(intent_slope * I); borrowed-interest
# event types get a large source-specific multiplier. "scaled" rates follow
# config.events_per_contact; the rest (high-intent signals) do not.
# (event_type, base, intent_slope, scaled)
DECAY_EVENT_RATES: tuple[tuple[str, float, float, bool], ...] = (
    ("email_open", 24.0, 0.15, True),
    ("email_click", 3.5, 0.5, True),
    ("page_view", 4.0, 0.6, True),  # sessions; each expands to 1 + Poisson(1.5) page views
    ("content_download", 0.9, 0.4, True),
    ("webinar_registered", 0.6, 0.4, True),
    ("form_submit", 0.8, 0.3, True),
    ("pricing_page_view", 0.5, 1.1, False),
    ("demo_request", 0.08, 1.3, False),
    ("free_trial_start", 0.05, 1.2, False),
    ("giveaway_entry", 0.04, -0.3, True),
    ("prize_draw_entry", 0.04, -0.3, True),
    ("event_lunch", 0.02, -0.3, True),
    ("event_badge_scan", 0.03, -0.3, True),
)
PAGES_PER_SESSION_EXTRA = 1.5
PAGE_GAP_SECONDS = 90.0
BORROWED_EVENT_MULTIPLIERS: dict[str, dict[str, float]] = {
    "giveaway": {"giveaway_entry": 60.0, "email_open": 1.5},
    "prize_draw": {"prize_draw_entry": 50.0, "email_open": 1.5},
    "trade_show": {"event_badge_scan": 60.0, "event_lunch": 10.0},
    "event_lunch": {"event_lunch": 60.0, "event_badge_scan": 25.0},
    "content_syndication": {"content_download": 2.5},
    "webinar": {"webinar_registered": 3.0},
}
WEBINAR_ATTEND_LOGIT, WEBINAR_ATTEND_INTENT = -0.3, 0.6
WEBINAR_ATTEND_DELAY_DAYS = (1.0, 21.0)
FOLLOW_UP_TOUCHES, FOLLOW_UP_INTENT = 1.5, 0.3
MEETINGS, MEETINGS_INTENT = 0.3, 0.9
# Expected lifetime events per contact at events_per_contact == REFERENCE_EVENTS_PER_CONTACT
# with the scaled rates above (measured; used to turn the config knob into a rate multiplier).
REFERENCE_EVENTS_PER_CONTACT = 42.0

CONTACTS_DDL = """
CREATE TABLE contacts (
    contact_id BIGINT, created_at TIMESTAMP, title VARCHAR, company_size INTEGER,
    industry VARCHAR, country VARCHAR, lead_source VARCHAR, email_domain VARCHAR,
    phone_valid BOOLEAN, buying_timeline VARCHAR, requested_demo BOOLEAN
)"""
EVENTS_DDL = "CREATE TABLE events (contact_id BIGINT, occurred_at TIMESTAMP, event_type VARCHAR)"
OUTCOMES_DDL = """
CREATE TABLE outcomes (contact_id BIGINT, closed_at TIMESTAMP, outcome VARCHAR, amount DOUBLE)"""
TRUTH_DDL = """
CREATE TABLE _truth (
    contact_id BIGINT, propensity DOUBLE, close_probability DOUBLE, cycle_shape DOUBLE,
    cycle_scale_days DOUBLE, recycle_days DOUBLE, handoff_propensity DOUBLE
)"""


@dataclass(frozen=True)
class GeneratorConfig:
    """Size, seed and time window of a synthetic CRM.

    ``end`` is exclusive: no timestamp ``>= end`` is generated. ``events_per_contact`` is the
    mean lifetime number of engagement events per contact before the cut-offs at ``end`` and
    at closing (about 50 per contact survive them on the default window).
    """

    n_contacts: int = 50_000
    seed: int = 0
    start: datetime = datetime(2023, 1, 1)
    end: datetime = datetime(2026, 1, 1)
    events_per_contact: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.n_contacts, bool) or not isinstance(self.n_contacts, int | np.integer):
            raise ConfigError(f"n_contacts must be an integer, got {self.n_contacts!r}")
        if self.n_contacts <= 0:
            raise ConfigError(f"n_contacts must be positive, got {self.n_contacts!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        if self.seed < 0:
            raise ConfigError(f"seed must be non-negative, got {self.seed!r}")
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is not None:
                raise ConfigError(f"{name} must be a naive UTC datetime, got {value!r}")
        if self.end <= self.start:
            raise ConfigError(
                f"end must be after start, got start={self.start!r}, end={self.end!r}"
            )
        if not np.isfinite(self.events_per_contact) or self.events_per_contact < 0:
            raise ConfigError(
                f"events_per_contact must be a non-negative number, got {self.events_per_contact!r}"
            )


@dataclass(frozen=True)
class CrmTables:
    """The four generated tables (``truth`` is written as ``_truth``)."""

    contacts: pd.DataFrame
    events: pd.DataFrame
    outcomes: pd.DataFrame
    truth: pd.DataFrame


# ---------------------------------------------------------------------------------------------
# Small vectorised helpers.
# ---------------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _choice(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``weights`` (rows need not be normalised)."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), weights.shape[1] - 1)


def _strings(codes: np.ndarray, vocab: tuple[str, ...]) -> pd.Series:
    """A pandas ``str`` Series from integer codes into ``vocab``, built in Arrow (fast)."""
    arr = pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32)), pa.array(list(vocab), type=pa.string())
    ).cast(pa.string())
    return pd.Series(pd.array(arr, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


def _quarter_starts(start: datetime, end: datetime) -> np.ndarray:
    """Calendar-quarter boundaries covering [start, end), as datetime64[s]; first is <= start."""
    q0 = np.datetime64(f"{start.year:04d}-{(start.month - 1) // 3 * 3 + 1:02d}", "M")
    months = np.arange(q0, np.datetime64(end, "M") + 1, 3)
    bounds = months.astype("datetime64[s]")
    return bounds[bounds < np.datetime64(end, "s")]


@dataclass(frozen=True)
class _Window:
    start_s: int  # seconds since the epoch
    end_s: int
    quarter_starts_s: np.ndarray  # int64 seconds
    quarter_odds: np.ndarray  # win-odds multiplier per quarter
    quarter_busy: np.ndarray  # touch-delay multiplier per quarter (log scale shift)
    week_capacity: np.ndarray  # share of routed leads sales can work, per week from start


def _window(config: GeneratorConfig) -> _Window:
    """Quarter-level drift parameters; drawn from their own stream so every chunk agrees."""
    bounds = _quarter_starts(config.start, config.end).astype(np.int64)
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(2**32 - 1,)))
    lo, hi = np.log(QUARTER_ODDS_RANGE[0]), np.log(QUARTER_ODDS_RANGE[1])
    odds = np.exp(rng.uniform(lo, hi, len(bounds)))
    busy = rng.normal(0.0, BUSY_QUARTER_LOG_SD, len(bounds))
    start_s = int(np.datetime64(config.start, "s").astype(np.int64))
    end_s = int(np.datetime64(config.end, "s").astype(np.int64))
    n_weeks = (end_s - start_s) // (7 * SECONDS_PER_DAY) + 1
    u_week = np.arange(n_weeks) * 7 * SECONDS_PER_DAY / (end_s - start_s)
    capacity = np.minimum(
        1.0,
        WEEK_CAPACITY_BASE
        * np.exp(rng.normal(0.0, WEEK_CAPACITY_LOG_SD, n_weeks))
        / (1.0 + VOLUME_GROWTH * u_week),
    )
    return _Window(
        start_s=start_s,
        end_s=end_s,
        quarter_starts_s=bounds,
        quarter_odds=odds,
        quarter_busy=busy,
        week_capacity=capacity,
    )


def _title_table() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flat template arrays: titles, function fit, start offset and count per level."""
    titles: list[str | None] = []
    fits: list[float] = []
    starts, counts = [], []
    for level in TITLE_LEVEL_ORDER:
        starts.append(len(titles))
        counts.append(len(TITLE_TEMPLATES[level]))
        for title, function in TITLE_TEMPLATES[level]:
            titles.append(title)
            fits.append(FUNCTION_FIT[function])
    return (
        np.asarray(titles, dtype=object),
        np.asarray(fits),
        np.asarray(starts),
        np.asarray(counts),
    )


# ---------------------------------------------------------------------------------------------
# One chunk.
# ---------------------------------------------------------------------------------------------


def _creation_seconds(
    rng: np.random.Generator, lo: int, hi: int, n_total: int, win: _Window
) -> np.ndarray:
    """Sorted creation times for contacts ``lo..hi-1`` of ``n_total`` (a slice of the timeline).

    Volume density grows linearly (1 + VOLUME_GROWTH * u); the chunk covers quantiles
    ``[lo/n, hi/n)`` so ids increase with time across chunks.
    """
    v = np.sort(rng.uniform(lo / n_total, hi / n_total, hi - lo))
    g = VOLUME_GROWTH
    u = (np.sqrt(1.0 + 2.0 * g * (1.0 + g / 2.0) * v) - 1.0) / g
    span = win.end_s - win.start_s
    return np.minimum(win.start_s + np.floor(u * span).astype(np.int64), win.end_s - 1)


def _decay_times(
    rng: np.random.Generator, horizon_days: np.ndarray, taus: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Offsets in days from the decay mixture truncated to [0, horizon_days) (one per row)."""
    mass = weights[None, :] * -np.expm1(-horizon_days[:, None] / taus[None, :])
    comp = _choice(rng, mass)
    tau = taus[comp]
    return -tau * np.log1p(rng.random(len(tau)) * np.expm1(-horizon_days / tau))


def _decay_mass(horizon_days: np.ndarray, taus: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fraction of the lifetime decay mass that falls within [0, horizon_days)."""
    return np.asarray(
        (weights[None, :] * -np.expm1(-horizon_days[:, None] / taus[None, :])).sum(axis=1)
    )


def _expected_win(win_base: np.ndarray, log_hours_mean: np.ndarray) -> np.ndarray:
    """E[sigmoid(win_base + deal - slope * log1p(hours / 4))] over the deal noise and the
    touch delay's noise (Gauss-Hermite quadrature, 12 x 12 nodes): the win probability of a
    worked, reached lead as known at its handoff."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(12)
    weights = weights / weights.sum()
    total = np.zeros(len(win_base))
    for z_hours, w_hours in zip(nodes, weights, strict=True):
        hours = np.exp(log_hours_mean + TOUCH_LOG_SD * z_hours)
        shifted = win_base - SPEED_TO_LEAD_SLOPE * np.log1p(hours / 4.0)
        for z_deal, w_deal in zip(nodes, weights, strict=True):
            total += w_hours * w_deal * _sigmoid(shifted + DEAL_NOISE_SD * z_deal)
    return total


def _recycle_seconds(
    created_s: np.ndarray, events_s: np.ndarray, events_ci: np.ndarray
) -> np.ndarray:
    """When each lead would be recorded as lost for inactivity (epoch seconds).

    The first moment ``x >= created + RECYCLE_REVIEW_DAYS`` with no event (nor the creation)
    in ``(x - RECYCLE_INACTIVE_DAYS, x]``; events sorted by ``(contact, time)``, uncut.
    """
    review = created_s + RECYCLE_REVIEW_DAYS * SECONDS_PER_DAY
    gap = RECYCLE_INACTIVE_DAYS * SECONDS_PER_DAY
    never = np.iinfo(np.int64).max
    last = created_s.copy()  # the last activity at or before the review
    before = events_s <= review[events_ci]
    np.maximum.at(last, events_ci[before], events_s[before])
    recycle = np.where(last + gap <= review, review, never)
    following = np.full(len(events_s), never)
    same = events_ci[1:] == events_ci[:-1]
    following[:-1] = np.where(same, events_s[1:], never)
    # still active at the review: the first event at or after the last one before it that
    # no other follows within the gap
    active = recycle[events_ci] == never
    quiet_after = active & (following - events_s >= gap) & (events_s >= last[events_ci])
    np.minimum.at(recycle, events_ci[quiet_after], events_s[quiet_after] + gap)
    return recycle


def _chunk(config: GeneratorConfig, win: _Window, chunk_index: int, lo: int, hi: int) -> CrmTables:
    """Generate contacts with ids ``lo+1..hi`` and everything that hangs off them."""
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(chunk_index,)))
    n = hi - lo
    ids = np.arange(lo + 1, hi + 1, dtype=np.int64)
    created_s = _creation_seconds(rng, lo, hi, config.n_contacts, win)
    quarter = np.searchsorted(win.quarter_starts_s, created_s, side="right") - 1
    n_quarters = len(win.quarter_starts_s)
    u_time = (created_s - win.start_s) / (win.end_s - win.start_s)

    # Lead source: borrowed-interest share grows; the new channel only in the last quarters.
    source_names = tuple(LEAD_SOURCES)
    base_w = np.array([LEAD_SOURCES[s][0] for s in source_names])
    borrowed = np.array([s in BORROWED_INTEREST_SOURCES for s in source_names])
    weights = np.broadcast_to(base_w, (n, len(source_names))).copy()
    weights[:, borrowed] *= (1.0 + BORROWED_SHARE_GROWTH * u_time)[:, None]
    new_col = source_names.index(NEW_CHANNEL)
    weights[:, new_col] *= quarter >= n_quarters - NEW_CHANNEL_QUARTERS
    source = _choice(rng, weights)
    is_borrowed = borrowed[source]
    src_intent = np.array([LEAD_SOURCES[s][1] for s in source_names])[source]
    src_win = np.array([LEAD_SOURCES[s][2] for s in source_names])[source]
    src_delay = np.array([LEAD_SOURCES[s][3] for s in source_names])[source]

    # Fit: title, size, industry, country, email.
    titles, function_fit, t_start, t_count = _title_table()
    level_w = np.where(is_borrowed[:, None], LEVEL_WEIGHTS_BORROWED, LEVEL_WEIGHTS)
    level = _choice(rng, level_w)
    template = t_start[level] + np.floor(rng.random(n) * t_count[level]).astype(np.int64)
    level_fit = np.array([LEVEL_FIT[lv] for lv in TITLE_LEVEL_ORDER])[level]
    size = np.maximum(1.0, np.round(np.exp(rng.normal(SIZE_LOG_MEAN, SIZE_LOG_SD, n))))
    size = np.minimum(size, 500_000.0)
    size_reported = rng.random(n) >= SIZE_NULL_RATE
    size_fit = SIZE_FIT[np.searchsorted(SIZE_FIT_EDGES, size, side="left")]
    c_small = (level == TITLE_LEVEL_ORDER.index("c_level")) & (size <= 10)
    industries = TARGET_INDUSTRIES + OTHER_INDUSTRIES
    industry = _choice(rng, np.broadcast_to(INDUSTRY_WEIGHTS, (n, len(industries))))
    industry_fit = np.where(industry < len(TARGET_INDUSTRIES), *INDUSTRY_FIT)
    countries = TARGET_COUNTRIES + OTHER_COUNTRIES
    country = _choice(rng, np.broadcast_to(COUNTRY_WEIGHTS, (n, len(countries))))
    country_fit = np.where(country < len(TARGET_COUNTRIES), *COUNTRY_FIT)
    junior = np.isin(level, [TITLE_LEVEL_ORDER.index(lv) for lv in ("student", "intern")])
    free_logit = (
        FREE_MAIL_LOGIT + FREE_MAIL_STUDENT_INTERN * junior + FREE_MAIL_BORROWED * is_borrowed
    )
    free_mail = rng.random(n) < _sigmoid(free_logit)
    fit = (
        level_fit
        + function_fit[template]
        + size_fit
        + C_LEVEL_SMALL_FIRM_FIT * c_small
        + industry_fit
        + country_fit
        + FREE_MAIL_FIT * free_mail
    )

    # Latent intent, reachability, speed to lead.
    intent = INTENT_FIT * fit + src_intent + rng.normal(0.0, 1.0, n)
    phone_valid = rng.random(n) < _sigmoid(PHONE_VALID_LOGIT + PHONE_VALID_FIT * fit)
    p_reach = np.where(
        phone_valid, REACH_IF_PHONE, _sigmoid(REACH_BY_EMAIL_LOGIT + REACH_BY_EMAIL_INTENT * intent)
    )
    reached = rng.random(n) < p_reach

    # Self-reported answers (noisy).
    timeline_latent = intent + rng.normal(0.0, TIMELINE_NOISE_SD, n)
    timeline_code = len(TIMELINE_CUTS) - np.searchsorted(TIMELINE_CUTS, timeline_latent)
    timeline_null = rng.random(n) < TIMELINE_NULL_RATE
    p_demo = _sigmoid(DEMO_LOGIT + DEMO_INTENT * intent)
    p_demo = np.where(is_borrowed, np.maximum(p_demo, DEMO_PRETICKED_BORROWED), p_demo)
    requested_demo = rng.random(n) < p_demo

    # Sales' routing: points from what is known at the handoff, capacity of the week.
    size_points = np.select(
        [size <= 10, size <= 50, size <= 200, size <= 5000], [-5, 0, 5, 10], default=5
    )
    points = (
        np.array([ROUTING_LEVEL_POINTS[lv] for lv in TITLE_LEVEL_ORDER])[level]
        + np.where(industry < len(TARGET_INDUSTRIES), 10, 0)
        + np.where(country < len(TARGET_COUNTRIES), 5, 0)
        + np.where(size_reported, size_points, 0)
        + np.where(free_mail, 0, 5)
        + np.where(phone_valid, 5, 0)
        + np.where(timeline_null, 0, np.asarray(ROUTING_TIMELINE_POINTS)[timeline_code])
        + np.where(requested_demo, ROUTING_DEMO_POINTS, 0)
    )
    week = np.minimum(
        (created_s - win.start_s) // (7 * SECONDS_PER_DAY), len(win.week_capacity) - 1
    )
    capacity = win.week_capacity[week]
    p_work = capacity * _sigmoid(
        WORK_LOGIT + WORK_PER_10_POINTS * (points - WORK_CENTER_POINTS) / 10.0
    )
    worked = rng.random(n) < p_work
    log_hours_mean = (
        TOUCH_LOG_HOURS
        + src_delay
        + win.quarter_busy[quarter]
        + TOUCH_INTENT * intent
        - BUSY_WEEK_DELAY * np.log(capacity)
    )
    hours_to_touch = np.exp(log_hours_mean + rng.normal(0.0, TOUCH_LOG_SD, n))

    # Outcome probabilities, timing and draw. Known at the handoff: everything in win_base
    # and the routing; drawn after it: worked, reached, the touch delay, the deal noise.
    win_base = WIN_LOGIT + WIN_FIT * fit + WIN_INTENT * intent + src_win
    win_base = win_base + np.log(win.quarter_odds[quarter])
    deal = rng.normal(0.0, DEAL_NOISE_SD, n)
    win_logit = win_base + deal - SPEED_TO_LEAD_SLOPE * np.log1p(hours_to_touch / 4.0)
    unreached_p = _sigmoid(UNREACHED_WIN_LOGIT + UNREACHED_WIN_INTENT * intent)
    p_w = np.where(worked, np.where(reached, _sigmoid(win_logit), unreached_p), 0.0)
    p_l = np.where(
        reached,
        LOSS_PEAK * np.exp(-0.5 * ((intent - LOSS_CENTER) / LOSS_WIDTH) ** 2),
        UNREACHED_LOSS,
    )
    p_l = np.where(worked, np.clip(MAX_CLOSE_PROBABILITY - p_w, 0.0, p_l), 0.0)
    handoff_p_w = p_work * (
        p_reach * _expected_win(win_base, log_hours_mean) + (1.0 - p_reach) * unreached_p
    )
    cycle_scale = np.clip(
        CYCLE_SCALE_DAYS * (size / 50.0) ** CYCLE_SCALE_SIZE_SLOPE, *CYCLE_SCALE_RANGE
    )
    cycle_shape = np.full(n, CYCLE_SHAPE)
    u_out = rng.random(n)
    won, lost = u_out < p_w, (u_out >= p_w) & (u_out < p_w + p_l)
    cycle_days = rng.gamma(cycle_shape, cycle_scale)
    amount = np.exp(
        AMOUNT_LOG_MEAN + AMOUNT_SIZE_SLOPE * np.log(size / 50.0) + rng.normal(0, AMOUNT_LOG_SD, n)
    )

    # Events from the latent state only (and sales' work), then cut at min(closed_at, end):
    # closed by sales at the end of the cycle, or recycled as lost after inactivity first.
    events_s, events_ci, events_code = _events(
        rng, config, win, n, created_s, intent, source, worked & reached, hours_to_touch
    )
    order = np.lexsort((events_s, events_ci))
    events_s, events_ci, events_code = events_s[order], events_ci[order], events_code[order]
    recycle_s = _recycle_seconds(created_s, events_s, events_ci)
    sales_close_s = created_s + np.floor(cycle_days * SECONDS_PER_DAY).astype(np.int64)
    by_sales = (won | lost) & (sales_close_s < recycle_s)
    closed_s = np.where(by_sales, sales_close_s, recycle_s)
    won = won & by_sales
    closes = closed_s < win.end_s
    stop_s = np.minimum(closed_s, win.end_s)
    keep = (events_s < stop_s[events_ci]) & (events_s >= created_s[events_ci])
    events_s, events_ci, events_code = events_s[keep], events_ci[keep], events_code[keep]

    # Frames.
    timeline = np.asarray(BUYING_TIMELINES, dtype=object)[timeline_code]
    timeline[timeline_null] = None
    corporate = np.strings.add(
        np.strings.add(np.asarray(COMPANY_WORDS)[rng.integers(0, len(COMPANY_WORDS), n)],
                       rng.integers(1, COMPANIES_PER_WORD + 1, n).astype(str)),
        ".com",
    )  # fmt: skip
    free_domain = np.asarray(FREE_DOMAIN_CHOICES)[
        _choice(rng, np.broadcast_to(FREE_DOMAIN_WEIGHTS, (n, len(FREE_DOMAIN_CHOICES))))
    ]
    contacts = pd.DataFrame(
        {
            "contact_id": ids,
            "created_at": created_s.astype("datetime64[s]").astype("datetime64[us]"),
            "title": titles[template],
            "company_size": pd.array(np.where(size_reported, size, np.nan), dtype="Int64"),
            "industry": np.asarray(industries, dtype=object)[industry],
            "country": np.asarray(countries, dtype=object)[country],
            "lead_source": np.asarray(source_names, dtype=object)[source],
            "email_domain": np.where(free_mail, free_domain, corporate).astype(object),
            "phone_valid": phone_valid,
            "buying_timeline": timeline,
            "requested_demo": requested_demo,
        }
    )
    events = pd.DataFrame(
        {
            "contact_id": ids[events_ci],
            "occurred_at": events_s.astype("datetime64[s]").astype("datetime64[us]"),
            "event_type": _strings(events_code, EVENT_TYPES),
        }
    )
    outcomes = pd.DataFrame(
        {
            "contact_id": ids[closes],
            "closed_at": closed_s[closes].astype("datetime64[s]").astype("datetime64[us]"),
            "outcome": np.where(won[closes], "won", "lost").astype(object),
            "amount": np.round(amount[closes], 2),
        }
    )
    truth = pd.DataFrame(
        {
            "contact_id": ids,
            "propensity": p_w,
            "close_probability": p_w + p_l,
            "cycle_shape": cycle_shape,
            "cycle_scale_days": cycle_scale,
            "recycle_days": (recycle_s - created_s) / SECONDS_PER_DAY,
            "handoff_propensity": handoff_p_w,
        }
    )
    return CrmTables(contacts=contacts, events=events, outcomes=outcomes, truth=truth)


def _events(
    rng: np.random.Generator,
    config: GeneratorConfig,
    win: _Window,
    n: int,
    created_s: np.ndarray,
    intent: np.ndarray,
    source: np.ndarray,
    touched_by_sales: np.ndarray,
    hours_to_touch: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event times (epoch seconds), chunk-local contact index and EVENT_TYPES code.

    Depends on the latent state, sales' work and the creation time only; not cut at closing
    yet, not sorted.
    """
    code = {name: i for i, name in enumerate(EVENT_TYPES)}
    scale = config.events_per_contact / REFERENCE_EVENTS_PER_CONTACT
    source_names = tuple(LEAD_SOURCES)
    horizon_days = (win.end_s - created_s) / SECONDS_PER_DAY
    observed = _decay_mass(horizon_days, DECAY_TAUS_DAYS, DECAY_WEIGHTS)

    # Expected lifetime counts (n, K) for the decaying activity types.
    names = [r[0] for r in DECAY_EVENT_RATES]
    lam = np.empty((n, len(names)))
    for j, (name, base, slope, scaled) in enumerate(DECAY_EVENT_RATES):
        mult = np.ones(len(source_names))
        for s, per_type in BORROWED_EVENT_MULTIPLIERS.items():
            mult[source_names.index(s)] = per_type.get(name, 1.0)
        lam[:, j] = base * (scale if scaled else 1.0) * mult[source] * np.exp(slope * intent)
    counts = rng.poisson(lam * observed[:, None])
    flat = np.repeat(np.arange(counts.size), counts.ravel())
    ci, k = flat // len(names), flat % len(names)
    offs = _decay_times(rng, horizon_days[ci], DECAY_TAUS_DAYS, DECAY_WEIGHTS)
    t = created_s[ci] + np.floor(offs * SECONDS_PER_DAY).astype(np.int64)
    type_code = np.asarray([code[nm] for nm in names])[k]

    # Page-view sessions expand into several page views a minute or two apart.
    is_session = type_code == code["page_view"]
    pages = np.ones(len(t), dtype=np.int64)
    pages[is_session] += rng.poisson(PAGES_PER_SESSION_EXTRA, int(is_session.sum()))
    rep = np.repeat(np.arange(len(t)), pages)
    first = np.repeat(np.cumsum(pages) - pages, pages)
    within = np.arange(len(rep)) - first
    gaps = np.floor(rng.exponential(PAGE_GAP_SECONDS, len(rep))).astype(np.int64)
    gaps[within == 0] = 0
    gap_cum = np.cumsum(gaps)
    t_parts = [t[rep] + gap_cum - gap_cum[first]]
    ci_parts = [ci[rep]]
    code_parts = [type_code[rep]]

    # Webinar attendance follows some registrations.
    reg = np.flatnonzero(type_code == code["webinar_registered"])
    attend = rng.random(len(reg)) < _sigmoid(
        WEBINAR_ATTEND_LOGIT + WEBINAR_ATTEND_INTENT * intent[ci[reg]]
    )
    reg = reg[attend]
    delay = rng.uniform(*WEBINAR_ATTEND_DELAY_DAYS, len(reg)) * SECONDS_PER_DAY
    t_parts.append(t[reg] + delay.astype(np.int64))
    ci_parts.append(ci[reg])
    code_parts.append(np.full(len(reg), code["webinar_attended"]))

    # Arrival: the source's own event at creation, a first visit, sometimes the pricing page.
    arrival_type = np.array([code.get(ARRIVAL_EVENTS.get(s, ""), -1) for s in source_names])
    arriving = np.flatnonzero(arrival_type[source] >= 0)
    t_parts.append(created_s[arriving])
    ci_parts.append(arriving)
    code_parts.append(arrival_type[source[arriving]])
    n_pages = rng.poisson(np.exp(ARRIVAL_PAGES_LOGIT + ARRIVAL_PAGES_INTENT * intent))
    who = np.repeat(np.arange(n), n_pages)
    pricing = np.flatnonzero(
        rng.random(n) < _sigmoid(ARRIVAL_PRICING_LOGIT + ARRIVAL_PRICING_INTENT * intent)
    )
    for idx, etype in ((who, "page_view"), (pricing, "pricing_page_view")):
        minutes = rng.uniform(0.0, ARRIVAL_MINUTES, len(idx))
        t_parts.append(created_s[idx] + np.floor(minutes * 60.0).astype(np.int64))
        ci_parts.append(idx)
        code_parts.append(np.full(len(idx), code[etype]))

    # Sales: first touch for worked and reached leads, then follow-up touches and meetings.
    touch_s = created_s + np.floor(hours_to_touch * 3600.0).astype(np.int64)
    touched = np.flatnonzero(touched_by_sales & (touch_s < win.end_s))
    t_parts.append(touch_s[touched])
    ci_parts.append(touched)
    code_parts.append(np.full(len(touched), code["sales_touch"]))
    after_days = (win.end_s - touch_s[touched]) / SECONDS_PER_DAY
    after_mass = -np.expm1(-after_days / AFTER_TOUCH_TAU_DAYS)
    touched_intent = intent[touched]
    n_follow = rng.poisson(
        FOLLOW_UP_TOUCHES * np.exp(FOLLOW_UP_INTENT * touched_intent) * after_mass
    )
    n_meet = rng.poisson(MEETINGS * np.exp(MEETINGS_INTENT * touched_intent) * after_mass)
    for n_each, etype in ((n_follow, "sales_touch"), (n_meet, "meeting_held")):
        who = np.repeat(touched, n_each)
        off = _decay_times(
            rng,
            np.repeat(after_days, n_each),
            np.array([AFTER_TOUCH_TAU_DAYS]),
            np.array([1.0]),
        )
        t_parts.append(touch_s[who] + 1 + np.floor(off * SECONDS_PER_DAY).astype(np.int64))
        ci_parts.append(who)
        code_parts.append(np.full(len(who), code[etype]))

    return (
        np.concatenate(t_parts),
        np.concatenate(ci_parts).astype(np.int64),
        np.concatenate(code_parts).astype(np.int16),
    )


# ---------------------------------------------------------------------------------------------
# Public API.
# ---------------------------------------------------------------------------------------------


def generate_crm_chunks(config: GeneratorConfig, chunk_size: int = 100_000) -> Iterator[CrmTables]:
    """Yield the synthetic CRM in chunks of at most ``chunk_size`` contacts (ids contiguous)."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    win = _window(config)
    for index, lo in enumerate(range(0, config.n_contacts, chunk_size)):
        hi = min(lo + chunk_size, config.n_contacts)
        yield _chunk(config, win, index, lo, hi)


def generate_crm(config: GeneratorConfig) -> CrmTables:
    """The whole synthetic CRM in memory (for small sizes and tests)."""
    chunks = list(generate_crm_chunks(config))
    return CrmTables(
        *(
            pd.concat([getattr(c, name) for c in chunks], ignore_index=True)
            for name in ("contacts", "events", "outcomes", "truth")
        )
    )


def write_crm(
    con: duckdb.DuckDBPyConnection,
    config: GeneratorConfig,
    *,
    chunk_size: int = 100_000,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """(Re)create ``contacts``, ``events``, ``outcomes`` and ``_truth`` in one transaction.

    All or nothing: on any error (including one raised by ``progress``) the transaction is
    rolled back and the previous tables are untouched. ``progress(done, n_contacts)`` is
    called after each chunk. Returns the row count of each table.
    """
    tables = {CONTACTS: CONTACTS_DDL, EVENTS: EVENTS_DDL, OUTCOMES: OUTCOMES_DDL, TRUTH: TRUTH_DDL}
    attr = {CONTACTS: "contacts", EVENTS: "events", OUTCOMES: "outcomes", TRUTH: "truth"}
    counts = dict.fromkeys(tables, 0)
    done = 0
    con.execute("BEGIN TRANSACTION")
    try:
        for name, ddl in tables.items():
            con.execute(f'DROP TABLE IF EXISTS "{name}"')
            con.execute(ddl)
        for chunk in generate_crm_chunks(config, chunk_size):
            for name in tables:
                frame = getattr(chunk, attr[name])
                view = f"_leadscore_gen_{attr[name]}"
                con.register(view, pa.Table.from_pandas(frame, preserve_index=False))
                try:
                    con.execute(f'INSERT INTO "{name}" SELECT * FROM {view}')
                finally:
                    con.unregister(view)
                counts[name] += len(frame)
            done += len(chunk.contacts)
            logger.debug("generated %d of %d contacts", done, config.n_contacts)
            if progress is not None:
                progress(done, config.n_contacts)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    logger.info("wrote synthetic CRM: %s", counts)
    return counts


def _truth_rows(rows: pd.DataFrame, truth: pd.DataFrame, contacts: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (``contact_id``, ``as_of``) with their truth, ``created_at`` and age in days."""
    keyed = rows[["contact_id", "as_of"]].merge(
        truth.merge(contacts[["contact_id", "created_at"]], on="contact_id", how="inner"),
        on="contact_id",
        how="left",
        validate="many_to_one",
    )
    missing = keyed["propensity"].isna().to_numpy()
    if missing.any():
        raise DataValidationError(
            "rows", "contact_id", "contact has no truth or contact row",
            count=int(missing.sum()), examples=keyed.loc[missing, "contact_id"].tolist(),
        )  # fmt: skip
    age = (keyed["as_of"] - keyed["created_at"]).dt.total_seconds().to_numpy() / SECONDS_PER_DAY
    if (age < 0).any():
        bad = age < 0
        raise DataValidationError(
            "rows", "as_of", "as_of must not be before the contact's created_at",
            count=int(bad.sum()), examples=keyed.loc[bad, "contact_id"].tolist(),
        )  # fmt: skip
    keyed["age_days"] = age
    return keyed


def ceiling_scores(
    rows: pd.DataFrame, truth: pd.DataFrame, contacts: pd.DataFrame, horizon_days: int
) -> np.ndarray:
    """Bayes-optimal P(won in [as_of, as_of + horizon) | latent state, still open at as_of).

    With age ``a = as_of - created_at`` in days, ``r`` the age at which the lead would be
    recycled (``recycle_days``; it depends on the events only, so it is independent of the
    outcome draw) and ``F`` the Gamma CDF of the sales cycle:
    ``p_w * (F(min(a + h, r)) - F(a)) / (1 - close_probability * F(a))`` (0 when ``r <= a``).
    One value per row of ``rows`` (columns ``contact_id``, ``as_of``), in order.
    """
    if horizon_days <= 0:
        raise ConfigError(f"horizon_days must be positive, got {horizon_days!r}")
    keyed = _truth_rows(rows, truth, contacts)
    age = keyed["age_days"].to_numpy()
    shape = keyed["cycle_shape"].to_numpy(dtype=float)
    scale = keyed["cycle_scale_days"].to_numpy(dtype=float)
    recycle = keyed["recycle_days"].to_numpy(dtype=float)
    f_now = stats.gamma.cdf(age, shape, scale=scale)
    f_next = stats.gamma.cdf(np.minimum(age + horizon_days, recycle), shape, scale=scale)
    p_w = keyed["propensity"].to_numpy(dtype=float)
    p_close = keyed["close_probability"].to_numpy(dtype=float)
    return np.asarray(p_w * np.maximum(f_next - f_now, 0.0) / (1.0 - p_close * f_now))


def handoff_ceiling_scores(
    rows: pd.DataFrame, truth: pd.DataFrame, contacts: pd.DataFrame, horizon_days: int
) -> np.ndarray:
    """The handoff task's ceiling: P(won within ``horizon_days`` after creation | what the
    generator knows at the handoff), one value per row of ``rows`` (``contact_id``,
    ``as_of`` = the lead's handoff time), in order.

    Known then: the latent fit and intent, the source, the quarter's odds, the routing
    points and the week's capacity. Not known: whether sales work the lead, whether they
    reach it, how fast, and the deal noise; ``handoff_propensity`` integrates over them.
    A lead is never recycled before ``RECYCLE_REVIEW_DAYS``, so for a horizon up to that
    the value is ``handoff_propensity * F(horizon)``; a longer horizon is an error (the
    recycling time is not known at the handoff).
    """
    if horizon_days <= 0:
        raise ConfigError(f"horizon_days must be positive, got {horizon_days!r}")
    if horizon_days > RECYCLE_REVIEW_DAYS:
        raise ConfigError(
            f"horizon_days must be at most {RECYCLE_REVIEW_DAYS} (the generator's recycling "
            f"review) for the handoff ceiling, got {horizon_days!r}"
        )
    keyed = _truth_rows(rows, truth, contacts)
    shape = keyed["cycle_shape"].to_numpy(dtype=float)
    scale = keyed["cycle_scale_days"].to_numpy(dtype=float)
    p_w = keyed["handoff_propensity"].to_numpy(dtype=float)
    return np.asarray(p_w * stats.gamma.cdf(horizon_days, shape, scale=scale))
