"""Settings of the HTTP scoring service: typed, strict, read from the environment once.

| variable | default | meaning |
|---|---|---|
| ``LEADSCORE_MODEL_URI`` | ``models:/lead-quality@champion`` | the model (an alias is followed) |
| ``LEADSCORE_MAX_LEADS`` | 1000 | most leads in one request (more: 413) |
| ``LEADSCORE_MAX_BODY_BYTES`` | 4194304 | largest request body (more: 413) |
| ``LEADSCORE_POLL_SECONDS`` | 30 | how often the alias is checked for a new version |
| ``LEADSCORE_API_TOKEN`` | unset | when set, every endpoint but /healthz needs ``Bearer TOKEN`` |
| ``LEADSCORE_SCORING_THREADS`` | 2 | threads that score requests (off the event loop) |
| ``LEADSCORE_MAX_QUEUE`` | 64 | scoring requests that may wait for a thread (more: 503) |

A variable set to the empty string counts as unset, except ``LEADSCORE_API_TOKEN``: set but
empty or blank, it is an error (it would otherwise turn authentication off), as is a token an
HTTP header cannot carry (anything but visible ASCII: no spaces, no control characters).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from leadscore.features import ConfigError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ServiceSettings(BaseModel):
    """Settings of one service process."""

    # hide_input_in_errors: a ValidationError's text must never show the API token.
    model_config = ConfigDict(
        extra="forbid", frozen=True, protected_namespaces=(), hide_input_in_errors=True
    )

    model_uri: str = "models:/lead-quality@champion"
    max_leads: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    poll_seconds: float = Field(default=30.0, gt=0)
    api_token: str | None = None
    scoring_threads: int = Field(default=2, ge=1)
    max_queue: int = Field(default=64, ge=0)

    @field_validator("api_token")
    @classmethod
    def _token_a_header_can_carry(cls, token: str | None) -> str | None:
        # The messages describe the token, never repeat it: it is a secret.
        if token is None:
            return None
        if not token.strip():
            got = "an empty string" if not token else f"{len(token)} whitespace character(s)"
            raise ValueError(f"the API token must not be blank, got {got}; unset the variable "
                             "to serve without authentication")  # fmt: skip
        bad = next((i for i, c in enumerate(token) if not "!" <= c <= "~"), None)
        if bad is not None:
            raise ValueError(f"the API token must be visible ASCII characters (no spaces or "
                             f"control characters), as an HTTP header carries it; got "
                             f"U+{ord(token[bad]):04X} at position {bad} of {len(token)}")  # fmt: skip
        return token


_ENV = {
    "model_uri": "LEADSCORE_MODEL_URI",
    "max_leads": "LEADSCORE_MAX_LEADS",
    "max_body_bytes": "LEADSCORE_MAX_BODY_BYTES",
    "poll_seconds": "LEADSCORE_POLL_SECONDS",
    "api_token": "LEADSCORE_API_TOKEN",
    "scoring_threads": "LEADSCORE_SCORING_THREADS",
    "max_queue": "LEADSCORE_MAX_QUEUE",
}
_SET_EVEN_IF_EMPTY = frozenset({"api_token"})  # empty must not mean "no authentication"


def settings_from_env(**overrides: object) -> ServiceSettings:
    """Settings from ``LEADSCORE_*`` variables, then ``overrides`` (e.g. CLI flags)."""
    values: dict[str, object] = {
        k: os.environ[v]
        for k, v in _ENV.items()
        if os.environ.get(v) or (k in _SET_EVEN_IF_EMPTY and v in os.environ)
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ServiceSettings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise ConfigError(f"service settings: {problems}") from exc


def _problem(error: Any) -> str:
    """One settings error as ``VARIABLE: message, got value`` (the token's value never shown)."""
    field = str(error["loc"][0]) if error["loc"] else ""
    got = "" if field == "api_token" or not error["loc"] else f", got {error['input']!r}"
    return f"{_ENV.get(field, field)}: {error['msg']}{got}"


@lru_cache
def get_settings() -> ServiceSettings:
    """The process's settings (cached; a FastAPI dependency)."""
    return settings_from_env()
