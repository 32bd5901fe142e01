"""The completion pipeline shared by every API surface (chat, messages, batch, WebSocket).

    prepare → cache lookup → budget reservation → executor (pool or queue) → settle + usage row

Surfaces hand :meth:`CompletionService.prepare` domain messages and call options (never their
request schemas) and render the :class:`CompletionResult` in their own response shape.

Every call that reaches the executor ends as exactly one usage row, whether it succeeds, fails
or is cancelled (a client disconnect is charged the tokens it consumed, estimated from what was
streamed when the CLI could not report them).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from claude_code_api.application.conversation import (
    IMAGE_TOKENS,
    Conversation,
    build_conversation,
    prompt_tokens,
)
from claude_code_api.application.output_format import format_instruction
from claude_code_api.application.services import Services
from claude_code_api.application.tools import check_tool_calls, check_tool_choice, tools_digest
from claude_code_api.auth.principal import Principal
from claude_code_api.domain import (
    CallOptions,
    CompletionResult,
    Message,
    Mode,
    TaskRequest,
    TextDelta,
    Thinking,
    Usage,
)
from claude_code_api.errors import CCAPIError, CLIOutputError, PermissionDeniedError
from claude_code_api.pricing import CONTEXT_WINDOWS, TIERS, billed_tokens, resolve_model, tier_of
from claude_code_api.routing import estimate_tokens
from claude_code_api.validation import check_identifier, check_messages, check_text, parse_model

if TYPE_CHECKING:
    from claude_code_api.storage import Reservation

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CompletionCall:
    """A validated request, ready to run."""

    request_id: str
    project_id: str
    key_id: str
    task: TaskRequest
    conversation: Conversation
    cache_key: str | None
    estimate: int  # tokens reserved: prompt estimate + output limit
    options: CallOptions = field(default_factory=CallOptions)
    routed: dict[str, Any] | None = None
    cache_hit: bool = False
    started: float = field(default_factory=time.perf_counter)

    @property
    def model(self) -> str:
        """The model the CLI is asked for."""
        return self.task.model


def _digest(image: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(image, sort_keys=True).encode()).hexdigest()


class CompletionService:
    """Runs completions for the HTTP and WebSocket layers."""

    def __init__(self, services: Services) -> None:
        self.s = services

    # --- preparation ----------------------------------------------------------------------
    async def prepare(
        self,
        principal: Principal,
        messages: Sequence[Message],
        options: CallOptions,
        *,
        request_id: str,
    ) -> CompletionCall:
        """Authorise, validate and route a call; nothing is spent yet. Every surface's entry.

        The key may only act on its own project (the admin key names one); its ``max_tier``
        caps the model: an explicit model above it is a 403, and ``auto`` routes no higher.
        """
        settings = self.s.settings
        tools = list(options.tools)
        check_tool_choice(tools, options.tool_choice, options.mode.value)
        project_id = principal.project_for(options.project_id)
        max_tier = principal.max_tier
        mode = options.mode
        if mode is Mode.AGENT and not settings.allow_agent_mode:
            raise PermissionDeniedError(
                "Agent mode is disabled on this server (CCAPI_ALLOW_AGENT_MODE).", param="mode"
            )
        check_identifier(project_id, field="project_id")
        check_messages(messages)
        fmt = options.output_format
        instruction = fmt and format_instruction(fmt.type, fmt.schema)
        if instruction:
            check_text(instruction, field="response_format")
            # A system message after the caller's own: build_conversation joins them in order.
            messages = [*messages, Message.of("system", instruction)]
        parsed = parse_model(options.model)  # the strict grammar: 400 / 404 before anything
        requested, tier = parsed.name, parsed.tier
        if tier is not None and max_tier is not None and TIERS.index(tier) > TIERS.index(max_tier):
            raise PermissionDeniedError(
                f"This API key may use models up to {max_tier}; '{requested[:100]}' is {tier}. "
                "Use a cheaper model or model 'auto'.",
                param="model",
                code="model_not_allowed",
            )
        max_tokens = options.max_tokens
        output_limit = max_tokens or settings.default_max_tokens
        window = CONTEXT_WINDOWS.get(tier or "sonnet", 200_000)
        conversation = build_conversation(
            messages,
            context_window=window,
            reserve_output=output_limit,
            estimate=estimate_tokens,
            real_tool_turns=bool(tools) and options.tool_choice != "none",
        )
        routed: dict[str, Any] | None = None
        if tier is None:  # "auto"
            remaining = await self.s.budgets.remaining(project_id)
            decision = self.s.router.route(
                conversation.prompt,
                context_size=IMAGE_TOKENS * len(conversation.images),
                budget_remaining=remaining,
                max_tokens=max_tokens,
                max_tier=max_tier,
            )
            routed = decision.to_dict()
            cli_model = resolve_model(decision.model, settings.tier_models)
        else:
            cli_model = resolve_model(requested, settings.tier_models)
        # Real earlier turns (only the new message on stdin), unless the operator chose the
        # flattened transcript (warm-capable, no prompt caching of the history).
        resumed = bool(conversation.history) and settings.resume_sessions
        task = TaskRequest(
            prompt=conversation.last if resumed else conversation.prompt,
            history=list(conversation.history) if resumed else [],
            model=cli_model,
            project_id=project_id,
            system_prompt=conversation.system_prompt,
            max_tokens=max_tokens,
            mode=mode,
            images=list(conversation.last_images if resumed else conversation.images),
            tools=tools,
            tool_choice=options.tool_choice,
            parallel_tool_calls=options.parallel_tool_calls,
            tool_results=list(conversation.tool_results),
        )
        thinking = options.thinking or Thinking.default(mode.value)
        task.thinking_budget, task.effort = thinking.budget, thinking.effort
        # The tool definitions are input too (the CLI sends them upstream on every turn).
        tool_tokens = estimate_tokens(tools_digest(task)) if tools else 0
        cache_key = None
        if options.use_cache and settings.cache_ttl > 0:
            cache_key = self.s.cache.key_for(
                project_id=project_id,
                model=cli_model,
                system_prompt=conversation.system_prompt,
                messages=[list(t) for t in conversation.transcript]
                + ([["images", *map(_digest, conversation.images)]] if conversation.images else [])
                + ([["thinking", thinking.budget, thinking.effort]] if thinking.budget != 0 else [])
                + ([["tools", tools_digest(task)]] if tools else []),
                max_tokens=max_tokens,
                mode=mode.value,
                temperature=options.temperature,
            )
        return CompletionCall(
            request_id=request_id,
            project_id=project_id,
            key_id=principal.key_id,
            task=task,
            conversation=conversation,
            cache_key=cache_key,
            estimate=prompt_tokens(conversation, estimate_tokens) + tool_tokens + output_limit,
            options=options,
            routed=routed,
        )

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """The input-token estimate of a conversation (what budgets reserve); nothing runs."""
        conversation = build_conversation(
            messages,
            context_window=max(CONTEXT_WINDOWS.values()),
            reserve_output=0,
            estimate=estimate_tokens,
        )
        return prompt_tokens(conversation, estimate_tokens)

    # --- execution ------------------------------------------------------------------------
    async def cached(self, call: CompletionCall) -> CompletionResult | None:
        """A cache hit (recorded as a zero-cost usage row), or None."""
        if call.cache_key is None:
            return None
        hit = await self.s.cache.get(call.cache_key)
        (self.s.metrics.cache_hit if hit else self.s.metrics.cache_miss).inc()
        if hit is None:
            return None
        hit.cached = True
        hit.usage.cost_usd = 0.0
        call.cache_hit = True
        self._record(call, hit.model, hit.usage, status="ok", cached=True)
        return hit

    async def complete(self, call: CompletionCall, *, lookup: bool = True) -> CompletionResult:
        """Run a non-streaming completion (cache, budget, executor, usage).

        ``lookup=False`` when the caller already asked :meth:`cached`.
        """
        hit = await self.cached(call) if lookup else None
        if hit is not None:
            return hit
        reservation = await self.s.budgets.reserve(call.project_id, call.estimate)
        try:
            result = await self.s.executor.run(call.task)
        except CCAPIError:
            self._finish(call, reservation, None, status="error")
            raise
        except asyncio.CancelledError:
            # The client went away: the prompt was sent upstream, so charge its estimate.
            self._finish(call, reservation, self._estimated_usage(call, ""), status="cancelled")
            raise
        self._finish(call, reservation, result.usage, status="ok", model=result.model)
        check_tool_calls(result)
        await self._store(call, result)
        return result

    async def stream(self, call: CompletionCall) -> AsyncGenerator[str | CompletionResult, None]:
        """Text deltas, then the final :class:`CompletionResult`.

        The first item is fetched before this returns an iterator's first value so that early
        failures (busy, CLI missing) surface as HTTP errors, not as a broken stream.
        """
        hit = await self.cached(call)
        if hit is not None:
            yield TextDelta(hit.text, model=hit.model)
            yield hit
            return
        reservation = await self.s.budgets.reserve(call.project_id, call.estimate)
        sent: list[str] = []
        final: CompletionResult | None = None
        try:
            async with aclosing(self.s.executor.stream(call.task)) as items:
                async for item in items:
                    if isinstance(item, CompletionResult):
                        final = item
                    else:
                        sent.append(item)
                        yield item
        except CCAPIError:
            usage = self._estimated_usage(call, "".join(sent)) if sent else None
            self._finish(call, reservation, usage, status="error")
            raise
        except (asyncio.CancelledError, GeneratorExit):
            self._finish(
                call, reservation, self._estimated_usage(call, "".join(sent)), status="cancelled"
            )
            raise
        if final is None:  # the executor contract forbids this; never report an empty answer
            self._finish(call, reservation, None, status="error")
            raise CLIOutputError("The CLI stream ended without a final result.")
        self._finish(call, reservation, final.usage, status="ok", model=final.model)
        check_tool_calls(final)
        await self._store(call, final)
        yield final

    # --- bookkeeping ----------------------------------------------------------------------
    def _estimated_usage(self, call: CompletionCall, text: str) -> Usage:
        prompt = call.estimate - (call.task.max_tokens or self.s.settings.default_max_tokens)
        output = estimate_tokens(text) if text else 0
        cost = self.s.prices.cost(call.model, prompt, output)
        return Usage(input_tokens=prompt, output_tokens=output, cost_usd=cost)

    async def _store(self, call: CompletionCall, result: CompletionResult) -> None:
        # Tool calls are never cached: their ids name one suspended run, for one client.
        if call.cache_key is not None and not result.tool_calls:
            await self.s.cache.put(call.cache_key, result, ttl=self.s.settings.cache_ttl)

    def _finish(
        self,
        call: CompletionCall,
        reservation: Reservation,
        usage: Usage | None,
        *,
        status: str,
        model: str | None = None,
    ) -> None:
        """Settle the reservation and write the usage row, shielded from cancellation."""
        # Charged as reported, prompt-cache writes at 1.25x and reads at 0.1x (pricing).
        spent = billed_tokens(usage) if usage else 0
        self.s.budgets.settle_later(reservation, spent)  # batched off the request path
        self._record(call, model or call.model, usage or Usage(), status=status, cached=False)
        metrics = self.s.metrics
        metrics.completions.labels(tier_of(model or call.model), status).inc()
        if usage:
            tier = tier_of(model or call.model)
            metrics.tokens.labels(tier, "input").inc(usage.prompt_tokens)
            metrics.tokens.labels(tier, "output").inc(usage.output_tokens)
            metrics.cost.labels(tier).inc(usage.cost_usd)

    def _record(
        self, call: CompletionCall, model: str, usage: Usage, *, status: str, cached: bool
    ) -> None:
        latency_ms = int((time.perf_counter() - call.started) * 1000)
        self.s.record_usage(
            project_id=call.project_id,
            model=model,
            usage=usage,
            cached=cached,
            status=status,
            request_id=call.request_id,
            key_id=call.key_id,
            latency_ms=latency_ms,
        )
