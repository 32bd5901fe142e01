"""Service settings, read from the environment (prefix ``CCAPI_``) or a ``.env`` file.

Settings are built by the app factory (:func:`claude_code_api.app.create_app`) or the CLI, never
at import time, so tests can build as many differently-configured services as they like.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service. Each field maps to ``CCAPI_<FIELD_NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CCAPI_", env_file=".env", extra="ignore")

    # --- Claude CLI -------------------------------------------------------------------------
    claude_bin: str = Field("claude", description="Path or name of the `claude` executable.")
    demo: bool = Field(False, description="Run on the bundled simulated CLI (no credentials).")
    bare: bool = Field(
        False,
        description="Pass --bare (faster, skips hooks/plugins/CLAUDE.md) but then the CLI "
        "authenticates only with ANTHROPIC_API_KEY, never with a subscription login.",
    )
    max_workers: int = Field(5, ge=1, le=256, description="Concurrent CLI processes.")
    warm_workers: bool = Field(
        True,
        description="Reuse warm CLI processes for chat tasks (--input-format stream-json, "
        "/clear between tasks): ~30 ms instead of ~0.5-1 s per call. A process serves one "
        "project and system prompt for its life; model and max_tokens are set per task. "
        "Agent mode, images and prompts starting with / always start a fresh CLI; false turns "
        "warm processes off.",
    )
    resume_sessions: bool = Field(
        True,
        description="Send a conversation's earlier turns as real turns (a session file rebuilt "
        "from the request, then --resume), so the upstream's prompt caching bills repeated "
        "history at 0.1x; such calls start a fresh CLI (~0.5-1 s). false: earlier turns are "
        "flattened into one transcript message, billed as new input every turn, and may run "
        "on a warm process.",
    )
    warm_max_processes: int = Field(
        24,
        ge=1,
        le=1024,
        description="Cap on warm CLI processes (idle, spare and busy, all projects); a cap, "
        "not a target: processes start on demand and retire after 5 idle minutes.",
    )
    warm_max_memory_mb: int = Field(
        6144,
        ge=64,
        description="Cap on the warm CLI processes' total RSS in MB (~200-240 MB each): at the cap "
        "the least recently used idle process is retired, or a task runs cold.",
    )
    warm_spares: int = Field(
        1,
        ge=0,
        le=16,
        description="Spare warm processes kept started (in the background) and not yet bound "
        "to a project: a task of a new project or system prompt, or a burst, takes one.",
    )
    task_timeout: float = Field(30.0, gt=0, description="Seconds before a CLI call is killed.")
    cli_max_retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Upstream retries the CLI may make per call (CLAUDE_CODE_MAX_RETRIES; the "
        "CLI's own default is 10, ~60 s of backoff). With API_TIMEOUT_MS set from "
        "task_timeout, the retries end before the task timeout, so an overloaded upstream "
        "becomes a fast 503 instead of a 504.",
    )
    queue_max: int = Field(100, ge=0, description="Tasks waiting for a worker before 503 busy.")
    result_ttl: float = Field(300.0, gt=0, description="Seconds a finished task result is kept.")
    tool_call_timeout: float = Field(
        300.0,
        gt=0,
        description="Seconds a run suspended on client tool calls waits for their results "
        "before its CLI process is ended (a later follow-up then rebuilds the conversation).",
    )
    max_suspended_runs: int = Field(
        10,
        ge=0,
        description="Runs suspended on client tool calls kept at once (each holds an idle CLI "
        "process, not a worker); the oldest is ended when more suspend.",
    )
    max_output_bytes: int = Field(16 * 1024 * 1024, description="Cap on one CLI call's stdout.")
    env_allowlist: list[str] = Field(
        default_factory=list,
        description="Extra environment variable names (or PREFIX_* patterns) passed to the CLI, "
        "e.g. cloud-provider credentials.",
    )
    default_system_prompt: str = Field(
        "You are a helpful assistant.", description="System prompt in chat mode."
    )
    workdir_root: Path | None = Field(
        None, description="Where per-task working directories are made (default: system temp)."
    )

    # --- storage ------------------------------------------------------------------------------
    database_url: str = Field("sqlite:///./budgets.db", description="SQLAlchemy URL.")
    default_max_tokens: int = Field(
        4096, ge=1, description="Output tokens reserved when a request sets no max_tokens."
    )
    alert_webhook_url: str | None = Field(None, description="POST target for budget alerts.")
    usage_flush_interval: float = Field(0.2, gt=0, description="Seconds between usage flushes.")

    # --- cache / queue ------------------------------------------------------------------------
    redis_url: str | None = Field(None, description="Redis URL; unset means in-memory backends.")
    redis_prefix: str = Field("ccapi", description="Prefix of every Redis key.")
    cache_ttl: int = Field(3600, ge=0, description="Seconds a cached response lives.")
    cache_max_entries: int = Field(10_000, ge=1, description="In-memory LRU size.")
    repeat_hits: int = Field(
        2048,
        ge=0,
        description="Request bodies (up to 8 KiB each) whose prepared call is remembered so "
        "that a byte-identical repeat from the same key is answered from the response cache "
        "without the web framework (api/repeat_hits.py); 0 turns it off.",
    )
    session_ttl: int = Field(
        default=24 * 3600, ge=1, description="Seconds a WebSocket/conversation session is kept."
    )
    responses_ttl: int = Field(
        default=30 * 24 * 3600,
        ge=1,
        description="Seconds a stored Responses API response (and its conversation) is kept.",
    )
    visibility_timeout: float = Field(
        60.0, gt=0, description="Seconds before a queued task held by a dead worker is retried."
    )

    # --- routing ------------------------------------------------------------------------------
    router_rules: str | None = Field(
        None,
        description='The router: unset or "learned" (the default: a model trained on weak vs '
        'strong outcomes), a rules profile ("seed": the seed\'s rules, "cost_aware") or the '
        "path of a TOML/YAML rules file (see docs/ROUTING.md).",
    )
    router_strong_share: float = Field(
        0.3,
        ge=0,
        le=1,
        description="The learned router's operating point: the share of prompts (measured on "
        "its validation data) sent to the strong tier; 0 = all haiku, 1 = all sonnet.",
    )
    tier_models: dict[str, str] = Field(
        default_factory=dict,
        description='Pin a tier to a full model id, e.g. {"opus": "claude-opus-4-1"}. Unpinned '
        "tiers are passed to the CLI as the alias, which it resolves to its current model.",
    )
    pricing: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description='Per-1K-token price overrides, e.g. {"haiku": {"input": 0.0008, '
        '"output": 0.004}}.',
    )

    # --- HTTP API -----------------------------------------------------------------------------
    admin_key: SecretStr | None = Field(None, description="Bearer key for /admin routes.")
    allow_agent_mode: bool = Field(
        False,
        description="Let requests opt into agent mode (the CLI's tools run on this server).",
    )
    max_body_bytes: int = Field(4 * 1024 * 1024, description="Larger request bodies get 413.")
    batch_max_items: int = Field(
        default=50, ge=1, description="Most requests in one /v1/batch call."
    )
    default_rate_limit: int = Field(60, ge=1, description="Requests/minute for keys without one.")
    shutdown_grace: float = Field(30.0, ge=0, description="Seconds to finish in-flight requests.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of the service's loggers."
    )

    @field_validator("tier_models")
    @classmethod
    def _valid_tier_models(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_tier_models(value)


def _check_tier_models(value: dict[str, str]) -> dict[str, str]:
    tiers = ("haiku", "sonnet", "opus")  # pricing.TIERS; not imported to keep config leaf-level
    for tier, model in value.items():
        if tier not in tiers:
            raise ValueError(f"tier_models: {tier!r} is not a tier ({', '.join(tiers)})")
        if not model.strip() or model.strip().lower() in tiers:
            raise ValueError(f"tier_models: {tier!r} needs a full model id, got {model!r}")
    return {tier: model.strip() for tier, model in value.items()}


def get_settings() -> Settings:
    """Read settings from the environment now (not cached: call it once and pass it around)."""
    return Settings()
