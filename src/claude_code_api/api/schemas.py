"""Request and response bodies of the HTTP API (OpenAI's shapes plus the seed's fields).

Unknown top-level fields are refused (as OpenAI does) with a 400 naming the field, and fields
that would change how the server runs the CLI (working directory, tools, permission mode,
upstream URL, environment) get an explicit refusal; they are never honoured.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from claude_code_api.domain import (
    CallOptions,
    Image,
    Message,
    Mode,
    OutputFormat,
    ToolCall,
    ToolSpec,
    Usage,
)
from claude_code_api.errors import InvalidRequestError
from claude_code_api.thinking import Thinking, from_anthropic, from_openai
from claude_code_api.validation import check_identifier


def _identifier(label: bool = False) -> AfterValidator:
    """A pydantic validator running :func:`~claude_code_api.validation.check_identifier`."""

    def check(value: str) -> str:
        try:
            return check_identifier(value, field="value", label=label)
        except InvalidRequestError as exc:
            raise ValueError(exc.message.replace("'value' ", "")) from None

    return AfterValidator(check)


#: A project id (letters, digits, ``_ . : -``, at most 128), validated wherever it is accepted.
ProjectId = Annotated[str, _identifier()]
#: A human label (key names).
Label = Annotated[str, _identifier(label=True)]


#: OpenAI's legacy function calling: refused with a message that says to use ``tools``.
FUNCTION_CALLING_FIELDS: frozenset[str] = frozenset({"functions", "function_call"})
#: Fields some clients send to steer a CLI agent; refused with a specific message.
FORBIDDEN_FIELDS: frozenset[str] = frozenset(
    {
        "cwd", "working_directory", "workdir", "add_dir", "functions",
        "function_call", "allowed_tools", "allowedTools", "disallowed_tools", "permission_mode",
        "permissionMode", "dangerously_skip_permissions", "base_url", "api_base", "upstream_url",
        "anthropic_base_url", "env", "environment", "mcp_config", "settings", "claude_bin",
        "system_prompt_file",
    }
)  # fmt: skip


class TextPart(BaseModel):
    """One ``{"type": "text", "text": ...}`` content part."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


_DATA_URL = re.compile(r"data:(image/(?:png|jpeg|gif|webp));base64,([A-Za-z0-9+/=\s]*)")


class ImageURL(BaseModel):
    """``image_url`` of an image part: a base64 ``data:`` URL or an ``https://`` URL."""

    model_config = ConfigDict(extra="ignore")
    url: str = Field(..., description="data:image/(png|jpeg|gif|webp);base64,... or https://...")
    detail: Literal["auto", "low", "high"] | None = Field(None, description="Accepted, ignored.")

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        if value.startswith("data:"):
            match = _DATA_URL.fullmatch(value)
            if match is None:
                raise ValueError(
                    "an image data URL must be data:image/(png|jpeg|gif|webp);base64,<data>"
                )
            try:
                base64.b64decode("".join(match.group(2).split()), validate=True)
            except binascii.Error as exc:
                raise ValueError("the image's base64 data is invalid") from exc
            return value
        if value.startswith("https://") and len(value) <= 2048:
            return value
        raise ValueError("an image URL must be a base64 data: URL or an https:// URL")

    def source(self) -> dict[str, str]:
        """The Anthropic Messages API image ``source`` for this URL."""
        match = _DATA_URL.fullmatch(self.url)
        if match is not None:
            data = "".join(match.group(2).split())
            return {"type": "base64", "media_type": match.group(1), "data": data}
        return {"type": "url", "url": self.url}


class ImagePart(BaseModel):
    """One ``{"type": "image_url", "image_url": {"url": ...}}`` content part (user messages)."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


#: OpenAI's and Anthropic's rule for tool names.
TOOL_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
#: Tools in one request at most (OpenAI's limit).
MAX_TOOLS = 128


def check_schema_object(value: dict[str, Any], field: str) -> dict[str, Any]:
    """``value`` if it is a valid JSON schema of an object; ``ValueError`` naming ``field``."""
    if value.get("type", "object") != "object":
        raise ValueError(f"{field} must be a JSON-schema object (type 'object')")
    import jsonschema  # validated only when tools are sent

    try:
        jsonschema.validators.validator_for(value).check_schema(value)
    except jsonschema.exceptions.SchemaError as exc:
        raise ValueError(f"{field} is not a valid JSON schema: {exc.message}") from None
    return value


class FunctionDefinition(BaseModel):
    """``tools[].function``: a client-side function the model may call."""

    model_config = ConfigDict(extra="ignore")
    name: str = Field(..., pattern=TOOL_NAME_PATTERN)
    description: str | None = None
    parameters: dict[str, Any] | None = Field(
        None, description="A JSON-schema object (type object); omitted: no parameters."
    )
    strict: bool | None = Field(
        None, description="true: the model's arguments are validated against parameters."
    )

    @field_validator("parameters")
    @classmethod
    def _json_schema_object(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else check_schema_object(value, "parameters")


class ToolDefinition(BaseModel):
    """One entry of ``tools`` (``type: function``)."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["function"] = "function"
    function: FunctionDefinition


class NamedFunction(BaseModel):
    """``tool_choice.function``."""

    model_config = ConfigDict(extra="ignore")
    name: str


class NamedToolChoice(BaseModel):
    """``tool_choice: {"type": "function", "function": {"name": ...}}``."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["function"] = "function"
    function: NamedFunction


class FunctionCall(BaseModel):
    """``tool_calls[].function``: the name and the arguments as a JSON string."""

    model_config = ConfigDict(extra="ignore")
    name: str
    arguments: str = "{}"


class ToolCallItem(BaseModel):
    """One ``tool_calls`` entry of an assistant message."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(..., min_length=1, max_length=256)
    type: Literal["function"] = "function"
    function: FunctionCall


#: ``tool_choice`` as a request may send it.
ToolChoiceParam = Literal["auto", "none", "required"] | NamedToolChoice


def tool_specs(tools: list[ToolDefinition] | None) -> tuple[ToolSpec, ...]:
    """The request's ``tools`` as domain tool specs (no parameters: an empty object schema)."""
    return tuple(
        ToolSpec(
            name=t.function.name,
            description=t.function.description or "",
            input_schema=t.function.parameters or {"type": "object", "properties": {}},
            strict=bool(t.function.strict),
        )
        for t in tools or []
    )


def tool_choice_name(choice: ToolChoiceParam | None) -> str:
    """``tool_choice`` as the domain's string: auto, none, required or a tool's name."""
    if isinstance(choice, NamedToolChoice):
        return choice.function.name
    return choice or "auto"


def call_arguments(raw: str) -> dict[str, Any]:
    """A history tool call's arguments (a JSON object string; anything else is kept raw)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_raw": raw}


class ChatMessage(BaseModel):
    """One message of the conversation."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = Field(
        None, description="Text, or a list of text and (in user messages) image parts."
    )
    name: str | None = None
    tool_calls: list[ToolCallItem] | None = Field(
        None, description="Assistant messages: the tool calls the model made (content null)."
    )
    tool_call_id: str | None = Field(None, description="Tool messages: the call they answer.")
    is_error: bool = Field(False, description="Tool messages: the result is an error.")

    @model_validator(mode="after")
    def _content_given(self) -> ChatMessage:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError("content is required (null only with assistant tool_calls)")
        return self

    def text(self, image_marker: str = "") -> str:
        """The message's text with parts joined; each image part becomes ``image_marker``."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(
            part.text if isinstance(part, TextPart) else image_marker for part in self.content
        )

    def images(self) -> list[dict[str, str]]:
        """The Anthropic image sources of the message's image parts, in order."""
        if self.content is None or isinstance(self.content, str):
            return []
        return [p.image_url.source() for p in self.content if isinstance(p, ImagePart)]

    def to_message(self) -> Message:
        """The domain message."""
        if self.content is None or isinstance(self.content, str):
            parts: tuple[str | Image, ...] = (self.content or "",)
        else:
            parts = tuple(
                p.text if isinstance(p, TextPart) else Image(p.image_url.source())
                for p in self.content
            )
        return Message(
            self.role,
            parts,
            tool_calls=tuple(
                ToolCall(c.id, c.function.name, call_arguments(c.function.arguments))
                for c in self.tool_calls or []
            ),
            tool_call_id=self.tool_call_id,
            is_error=self.is_error,
        )


class StreamOptions(BaseModel):
    """OpenAI's ``stream_options``."""

    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class JSONSchemaFormat(BaseModel):
    """``response_format.json_schema``."""

    model_config = ConfigDict(extra="ignore")
    name: str = Field(..., min_length=1, max_length=64)
    description: str | None = None
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    """OpenAI's ``response_format``."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type json_schema needs a json_schema object")
        return self


class ThinkingParam(BaseModel):
    """Anthropic's ``thinking``: ``{"type": "enabled", "budget_tokens": N}``, ``disabled`` or
    ``adaptive``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int | None = Field(None, ge=1024, le=128_000)


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions`` body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model": "auto",
                    "messages": [
                        {"role": "system", "content": "You are terse."},
                        {"role": "user", "content": "Explain async/await in one line."},
                    ],
                    "max_tokens": 200,
                }
            ]
        },
    )

    model: str = Field("auto", description="auto | haiku | sonnet | opus | a full Claude model id")
    messages: list[ChatMessage] = Field(..., min_length=1)
    project_id: ProjectId | None = Field(None, description="Defaults to the key's.")
    max_tokens: int | None = Field(None, ge=1, le=128_000)
    max_completion_tokens: int | None = Field(None, ge=1, le=128_000)
    temperature: float | None = Field(
        None, ge=0, le=2, description="Accepted, not honoured: the CLI has no temperature flag."
    )
    top_p: float | None = Field(None, ge=0, le=1, description="Accepted, not honoured.")
    n: int | None = Field(None, ge=1, le=1, description="Only 1 is supported.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = Field(
        None,
        description="Up to 4 sequences; the answer is cut before the first one (applied by the "
        "service: the whole generated answer is still billed).",
    )
    response_format: ResponseFormat | None = Field(
        None,
        description="text, json_object or json_schema: JSON is asked for in the system prompt "
        "(best effort, not constrained decoding).",
    )
    user: str | None = Field(None, max_length=256)
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    metadata: dict[str, str] | None = None
    cache: bool = Field(True, description="false: neither read nor write the response cache.")
    mode: Literal["chat", "agent"] = Field(
        "chat", description="agent runs the CLI with its tools; only if the operator allows it."
    )
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = Field(
        None,
        description="Extended thinking (off unless asked in chat mode): none, or a thinking "
        "budget and CLI effort from minimal to xhigh (see docs/API.md).",
    )
    thinking: ThinkingParam | None = Field(
        None, description="Anthropic-style thinking; wins over reasoning_effort."
    )
    tools: list[ToolDefinition] | None = Field(
        None,
        max_length=MAX_TOOLS,
        description="Client-side functions (run by the client, never on the server).",
    )
    tool_choice: ToolChoiceParam | None = Field(
        None, description="auto (default with tools), none, required, or a named function."
    )
    parallel_tool_calls: bool | None = Field(
        None, description="false: at most one tool call per turn (default true)."
    )

    @field_validator("model")
    @classmethod
    def _model_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("model must not be empty")
        return value.strip()

    @field_validator("stop")
    @classmethod
    def _stop_sequences(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else (value or [])
        if len(stops) > 4:
            raise ValueError("at most 4 stop sequences")
        if any(not s for s in stops):
            raise ValueError("stop sequences must not be empty")
        return value

    def stop_sequences(self) -> list[str]:
        """``stop`` as a list (empty when unset)."""
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    def output_limit(self) -> int | None:
        """``max_completion_tokens`` wins over the older ``max_tokens``."""
        return self.max_completion_tokens or self.max_tokens

    def messages_domain(self) -> list[Message]:
        """The body's messages as domain messages."""
        return [m.to_message() for m in self.messages]

    def call_options(self) -> CallOptions:
        """The body's settings as domain call options."""
        fmt = self.response_format
        return CallOptions(
            model=self.model,
            project_id=self.project_id,
            max_tokens=self.output_limit(),
            temperature=self.temperature,
            stop=tuple(self.stop_sequences()),
            output_format=None
            if fmt is None
            else OutputFormat(fmt.type, fmt.json_schema.schema_ if fmt.json_schema else None),
            use_cache=self.cache,
            mode=Mode(self.mode),
            thinking=self.thinking_request(),
            tools=tool_specs(self.tools),
            tool_choice=tool_choice_name(self.tool_choice),
            parallel_tool_calls=self.parallel_tool_calls is not False,
        )

    def thinking_request(self) -> Thinking:
        """The request's thinking: Anthropic ``thinking`` wins over OpenAI ``reasoning_effort``;
        neither means none in chat mode (see :mod:`claude_code_api.thinking`)."""
        if self.thinking is not None:
            return from_anthropic(
                self.thinking.model_dump(exclude_none=True), self.output_limit(), self.mode
            )
        return from_openai(self.reasoning_effort, self.mode)


class AssistantMessage(BaseModel):
    """The assistant's reply."""

    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCallItem] | None = None


class Choice(BaseModel):
    """One choice (always exactly one)."""

    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length", "tool_calls"] = "stop"
    logprobs: None = None


class PromptTokensDetails(BaseModel):
    """OpenAI's ``usage.prompt_tokens_details``."""

    cached_tokens: int = Field(0, description="Prompt tokens read from Anthropic's prompt cache.")


class CompletionTokensDetails(BaseModel):
    """OpenAI's ``usage.completion_tokens_details``."""

    reasoning_tokens: int = Field(
        0, description="Completion tokens spent thinking (estimated; 0 unless thinking was asked)."
    )


class CompletionUsage(BaseModel):
    """OpenAI usage plus the cost in USD."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails = Field(default_factory=PromptTokensDetails)
    completion_tokens_details: CompletionTokensDetails = Field(
        default_factory=CompletionTokensDetails
    )
    cost_usd: float
    cached: bool = False


def usage_payload(usage: Usage, cached: bool | None = None) -> dict[str, Any]:
    """The ``usage`` object of responses, stream chunks and WebSocket ``done`` frames.

    ``cached`` is this service's response cache; ``prompt_tokens_details.cached_tokens`` is
    Anthropic's prompt cache (the CLI's ``cache_read_input_tokens``).
    """
    payload: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.thinking_tokens},
        "cost_usd": usage.cost_usd,
    }
    if cached is not None:
        payload["cached"] = cached
    return payload


class RoutingDecision(BaseModel):
    """``model: auto``: the router's decision (the ``routing`` field of a completion)."""

    model: str = Field(..., description="The tier the request was routed to.")
    reasoning: str
    rule: str = Field(..., description='"learned", "low_budget" or the rule that matched.')
    probability: float | None = Field(
        None,
        description="The learned router's probability that only the strong tier answers the "
        "task well (null with a rules profile or when a hard constraint decided).",
    )
    signals: dict[str, Any]
    estimated_cost: dict[str, float] = Field(..., description="USD estimate per tier.")


class ChatCompletion(BaseModel):
    """``POST /v1/chat/completions`` response."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    system_fingerprint: str | None = None
    routing: RoutingDecision | None = Field(
        None, description="Only with model auto: the router's decision (an extension)."
    )


class BatchItem(BaseModel):
    """One item of a batch: a prompt or a message list."""

    model_config = ConfigDict(extra="forbid")
    model: str = "auto"
    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    max_tokens: int | None = Field(None, ge=1, le=128_000)
    system: str | None = None
    tools: list[ToolDefinition] | None = Field(
        None, max_length=MAX_TOOLS, description="Client-side functions, as on chat completions."
    )
    tool_choice: ToolChoiceParam | None = None
    parallel_tool_calls: bool | None = None

    def call_options(self, project_id: str) -> CallOptions:
        """The item's settings as domain call options."""
        return CallOptions(
            model=self.model,
            project_id=project_id,
            max_tokens=self.max_tokens,
            tools=tool_specs(self.tools),
            tool_choice=tool_choice_name(self.tool_choice),
            parallel_tool_calls=self.parallel_tool_calls is not False,
        )

    def to_messages(self) -> list[ChatMessage]:
        """Normalise to a message list."""
        if self.messages:
            return list(self.messages)
        if self.prompt is None:
            raise ValueError("a batch item needs 'prompt' or 'messages'")
        msgs = [ChatMessage(role="user", content=self.prompt)]
        if self.system:
            msgs.insert(0, ChatMessage(role="system", content=self.system))
        return msgs


class BatchRequest(BaseModel):
    """``POST /v1/batch`` body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "requests": [
                        {"model": "haiku", "prompt": "Task 1"},
                        {"model": "haiku", "prompt": "Task 2"},
                    ],
                    "parallel": True,
                }
            ]
        },
    )
    requests: list[BatchItem] = Field(..., min_length=1)
    parallel: bool = True
    project_id: ProjectId | None = None


class BatchResultItem(BaseModel):
    """One batch result: the completion, or the error for that item alone."""

    index: int
    ok: bool
    response: ChatCompletion | None = None
    error: dict[str, Any] | None = None


class BatchResponse(BaseModel):
    """``POST /v1/batch`` response, results in request order."""

    results: list[BatchResultItem]
    total_tokens: int
    total_cost: float
    succeeded: int
    failed: int


class ModelUsage(BaseModel):
    """Per-model usage totals."""

    tokens: int
    cost: float
    requests: int = 0


class UsageResponse(BaseModel):
    """``GET /v1/usage`` response (the seed's shape)."""

    project_id: str
    period: str
    total_tokens: int
    total_cost: float
    requests: int = 0
    by_model: dict[str, ModelUsage]
    monthly_limit: int | None = None
    remaining: int | None = None


class RouteRequest(BaseModel):
    """``POST /v1/route`` body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"task_description": "Fix this bug", "context_size": 500}]},
    )
    task_description: str = Field(..., max_length=2_000_000)
    context_size: int = Field(0, ge=0, le=10_000_000)
    budget_remaining: int | None = Field(None, ge=0)


class RouteResponse(BaseModel):
    """``POST /v1/route`` response."""

    recommended_model: str
    reasoning: str
    #: The learned router's probability that only the strong tier answers the task well
    #: (``null`` with a rules profile).
    probability: float | None = None
    signals: dict[str, Any]
    estimated_cost: dict[str, float]


class ModelCard(BaseModel):
    """One entry of ``GET /v1/models``."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "anthropic"


class ModelList(BaseModel):
    """``GET /v1/models`` response."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class KeyCreateRequest(BaseModel):
    """``POST /admin/keys`` body."""

    model_config = ConfigDict(extra="forbid")
    project_id: ProjectId
    name: Label | None = None
    rate_limit: int | None = Field(None, ge=1, le=1_000_000)
    max_tier: Literal["haiku", "sonnet", "opus"] | None = Field(
        None, description="Highest model tier the key may use (null: any)."
    )


class KeyInfo(BaseModel):
    """An API key's public description (never the secret)."""

    key_id: str
    project_id: str
    name: str | None
    prefix: str
    rate_limit: int | None
    max_tier: str | None = None
    revoked: bool
    created_at: str | None = None
    last_used_at: str | None = None


class KeyCreated(KeyInfo):
    """The one response that contains the secret."""

    key: str


class BudgetRequest(BaseModel):
    """``PUT /admin/projects/{project_id}/budget`` body."""

    model_config = ConfigDict(extra="forbid")
    # Strict: JSON false/true or "5" is refused, not read as 0/1/5.
    monthly_limit: StrictInt | None = Field(
        ..., ge=0, le=2**62, description="Tokens per month; null: unlimited"
    )


class ErrorBody(BaseModel):
    """OpenAI error detail."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI error envelope."""

    error: ErrorBody
