"""The seed's cost claim ("60 %+ cheaper"), measured end to end through the running service.

    .venv/bin/python bench/cost_savings.py [--thinking-ratio 1.0] [--out PATH]

**Workload** (fixed; ``bench/data/cost_workload.json``, every prompt's source recorded there):

=================  ========  ===================================================================
part               requests  source
=================  ========  ===================================================================
chat               10        Self-Instruct seed tasks 0, 5, 9, 19, 25, 32, 34, 45, 48, 73
extraction         6         Self-Instruct seed tasks 14, 26, 39, 42, 43, 53
summarisation      3         Self-Instruct seed tasks 4, 62 (a ~1.3k-token CNN article), 64
coding             11        Self-Instruct seed tasks 28, 31, 50; MBPP task_ids 11-18
multi-turn         12        3 conversations x 4 turns: Self-Instruct seed tasks 40, 71, 72,
                             each followed by the 3 :data:`FOLLOW_UPS` (written for this bench)
repeated prompts   6         :data:`REPEATS`: six of the single-turn requests above sent again,
                             identically, at the end (a retry, or the same question asked twice)
=================  ========  ===================================================================

48 requests. Sources and licences: Self-Instruct's human-written seed tasks (Wang et al., 2022,
github.com/yizhongw/self-instruct ``data/seed_tasks.jsonl``, Apache-2.0); MBPP (Austin et al.,
2021, github.com/google-research/google-research ``mbpp/mbpp.jsonl``, CC BY 4.0). No MT-Bench or
Chatbot Arena-derived data. Each answer is as long as the source's reference answer
(``estimate_tokens`` of it; a follow-up's answer as long as its conversation's first answer).

**Method.** Every step starts a fresh service (``claude-code-api serve``, its defaults unless the
step says otherwise) on the **real** ``claude`` binary (``tests/fakes/fixtures.install_claude``),
pointed at the fake Anthropic upstream (``tests/fakes/upstream.py``), and replays the workload
through ``/v1/chat/completions`` as a client would: one request at a time, a conversation's
later turns carrying its earlier turns with the service's own answers. Every request that
reaches the upstream is priced from its recorded body (system blocks, tools, messages,
``cache_control`` breakpoints) at Anthropic's list prices with Anthropic's documented prompt
caching applied (:func:`price_requests`); a response-cache hit reaches no upstream and costs 0.
The baseline prices the **same client requests sent directly to the Anthropic API on sonnet
without caching**: the client's messages as real turns, no system prompt, no tools, no thinking
(the Messages API thinks only when asked), the same answers.

**Levers**, switched on one after another (so each one's saving is the drop from the step
before; the order matters for the split, not for the total):

1. ``naive wrapper``: what a plain ``claude -p`` wrapper pays: the CLI's agent prompt and tool
   schemas (``mode: agent``), its default thinking, sonnet, no response cache.
2. ``compact chat mode``: ``--tools "" --system-prompt`` (the service's chat mode), thinking
   still as the CLI does by default (``reasoning_effort: high`` asks for exactly that).
3. ``thinking off unless asked``: the chat-mode default.
4. ``routing``: ``model: "auto"`` (the learned router, default operating point).
5. ``response cache``: the service's default (``cache`` not set to false).
6. ``session prompt caching`` (#13): multi-turn requests continue the conversation in the CLI so
   earlier turns arrive as real turns and Anthropic's prompt cache reads them. On by default
   (``CCAPI_RESUME_SESSIONS``): :data:`SESSIONS_OFF` switches it off for steps 1-5 so that this
   step shows what it alone saves; every step reports whether later turns reached the upstream
   flattened or as real turns.

Next to the steps, one side run with every lever on but ``CCAPI_WARM_WORKERS=false`` (cold CLI
processes: no ``/clear`` caveat before each prompt) shows what the warm workers' caveat costs.

**Prices** (USD per million tokens, anthropic.com/pricing, Claude 4.5 generation): haiku $1 in /
$5 out, sonnet $3 / $15, opus $5 / $25; 5-minute cache writes 1.25x input, cache reads 0.1x.
Caching follows the rules in ``../shared/CLI-FACTS.md``: a prefix is cached only at a
``cache_control`` breakpoint and only when at least 1,024 (sonnet) or 4,096 (haiku, opus) tokens
long; a later request reads the longest cached prefix that ends at one of its breakpoints or up
to 20 blocks before one (same model, within 5 minutes). Tokens are ``estimate_tokens`` of each
block's text (tool schemas as JSON), the same count for the service's requests and the baseline.

**Assumption** (no public per-prompt measurement exists): with thinking on, the model thinks
``--thinking-ratio`` (default 1.0) times as many tokens as its answer; the thinking lever's saving
scales linearly with it. The fake model answers every tier alike: quality is not measured here;
the quality cost of routing is taken from the outcome data (``bench/outcome_eval.py``) and printed
next to the savings.

Prints the composition before any result, then a table per step, and writes
``bench/results/cost_savings.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.fakes
sys.path.insert(0, str(Path(__file__).parent))
from tests.fakes.fixtures import install_claude
from tests.fakes.upstream import FakeAnthropic, Reply

import outcome_eval
from _loadgen import free_port
from _outcomes import load as load_outcomes
from claude_code_api.pricing import tier_of
from claude_code_api.routing import Router, estimate_tokens

WORKLOAD = Path(__file__).parent / "data" / "cost_workload.json"
DEFAULT_OUT = Path(__file__).parent / "results" / "cost_savings.json"
ADMIN = "bench-admin-key"
#: The multi-turn conversations' later user turns (written for this bench).
FOLLOW_UPS = (
    "Thanks. Can you make that shorter?",
    "Now add one more example, please.",
    "Summarise everything so far in three bullet points.",
)
#: Single-turn requests sent a second time, identically, at the end of the workload.
REPEATS = (
    "chat-si48",
    "chat-si25",
    "extraction-si43",
    "summarisation-si4",
    "coding-mbpp14",
    "coding-si50",
)
#: USD per million tokens (anthropic.com/pricing): input, output.
LIST_PRICES = {"haiku": (1.0, 5.0), "sonnet": (3.0, 15.0), "opus": (5.0, 25.0)}
CACHE_WRITE, CACHE_READ = 1.25, 0.10
MIN_CACHEABLE = {"haiku": 4096, "sonnet": 1024, "opus": 4096}
CACHE_TTL = 300.0
LOOKBACK_BLOCKS = 20
#: Settings (environment) that switch session continuity (#13) off / on; empty until it lands.
SESSIONS_OFF: dict[str, str] = {"CCAPI_RESUME_SESSIONS": "false"}
SESSIONS_ON: dict[str, str] = {"CCAPI_RESUME_SESSIONS": "true"}


# --- the workload --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """One client request of the workload."""

    id: str
    category: str
    messages: tuple[dict[str, str], ...]  # the earlier turns' answers are filled in at replay
    answer_tokens: int
    conversation: str | None = None
    turn: int = 0


def load_workload(path: Path = WORKLOAD) -> tuple[list[Request], dict[str, Any]]:
    """The fixed request list (conversations' assistant turns are left to the replay)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    singles = {
        item["id"]: Request(
            item["id"],
            item["category"],
            ({"role": "user", "content": item["prompt"]},),
            estimate_tokens(item["reference"]),
        )
        for item in data["single_turn"]
    }
    requests = list(singles.values())
    for conv in data["conversations"]:
        answer = estimate_tokens(conv["reference"])
        for turn, text in enumerate((conv["prompt"], *FOLLOW_UPS)):
            requests.append(
                Request(
                    f"{conv['id']}-t{turn + 1}",
                    "multi_turn",
                    ({"role": "user", "content": text},),
                    answer,
                    conversation=conv["id"],
                    turn=turn,
                )
            )
    requests += [
        Request(f"{rid}-again", "repeated", singles[rid].messages, singles[rid].answer_tokens)
        for rid in REPEATS
    ]
    return requests, data["sources"]


def answer_text(n_tokens: int, seed: str) -> str:
    """A deterministic answer of ``n_tokens`` words (the fake upstream counts words as tokens)."""
    tag = hashlib.sha256(seed.encode()).hexdigest()[:6]
    return " ".join(f"w{tag}{i}" for i in range(max(1, n_tokens)))


# --- the fake model ------------------------------------------------------------------------


@dataclass(slots=True)
class Upstream:
    """What reached the fake upstream: one entry per ``/v1/messages`` call."""

    lengths: dict[str, tuple[int, str]]  # a single-turn or first prompt -> (tokens, seed)
    thinking_ratio: float
    calls: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def respond(self, body: dict[str, Any]) -> Reply:
        """Answer as long as the workload says; think when the request asks for thinking."""
        messages = body.get("messages") or []
        # the known prompt that starts last in the transcript (a conversation's first prompt
        # for its follow-ups, which answer as long as it did)
        everything = json.dumps(messages, ensure_ascii=False)
        n, seed, where = 50, "unknown", -1
        for text, (tokens, name) in self.lengths.items():
            pos = everything.rfind(json.dumps(text, ensure_ascii=False)[1:-1])
            if pos > where:
                n, seed, where = tokens, name, pos
        turn = max(FOLLOW_UPS, key=everything.rfind)
        if everything.rfind(turn) > where:  # a follow-up is the newest known user text
            seed += turn
        thinking_on = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
        think = round(n * self.thinking_ratio) if thinking_on else 0
        with self.lock:
            self.calls.append({"t": time.monotonic(), "body": body, "output": n, "thinking": think})
        return Reply(
            text=answer_text(n, seed), thinking=answer_text(think, "t" + seed) if think else ""
        )


# --- pricing -------------------------------------------------------------------------------


def _blocks(body: dict[str, Any]) -> list[tuple[str, bool]]:
    """The request's cacheable blocks in prefix order (tools, system, messages):
    ``(text, has a cache_control breakpoint)``."""
    out: list[tuple[str, bool]] = []
    for tool in body.get("tools") or []:
        out.append((json.dumps(tool, sort_keys=True), "cache_control" in tool))
    system = body.get("system") or []
    if isinstance(system, str):
        system = [{"type": "text", "text": system}]
    for block in system:
        out.append((str(block.get("text", "")), "cache_control" in block))
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        for block in content or []:
            text = block.get("text")
            if text is None:
                text = json.dumps({k: v for k, v in block.items() if k != "cache_control"})
            out.append((f"{message.get('role')}:{text}", "cache_control" in block))
    return out


@dataclass(slots=True)
class Bill:
    """Token counts and USD of a set of upstream requests."""

    calls: int = 0
    uncached: int = 0
    cache_write: int = 0
    cache_read: int = 0
    output: int = 0
    thinking: int = 0
    usd: float = 0.0
    by_tier: dict[str, int] = field(default_factory=dict)

    def add(self, tier: str, fresh: int, write: int, read: int, out: int, think: int) -> None:
        """Price one call."""
        price_in, price_out = LIST_PRICES[tier]
        self.calls += 1
        self.uncached += fresh
        self.cache_write += write
        self.cache_read += read
        self.output += out
        self.thinking += think
        self.by_tier[tier] = self.by_tier.get(tier, 0) + 1
        self.usd += (
            price_in * (fresh + CACHE_WRITE * write + CACHE_READ * read) + price_out * (out + think)
        ) / 1e6

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "upstream_calls": self.calls,
            "input_uncached": self.uncached,
            "input_cache_write": self.cache_write,
            "input_cache_read": self.cache_read,
            "output": self.output,
            "thinking": self.thinking,
            "usd": self.usd,
            "calls_by_tier": dict(self.by_tier),
        }


def price_requests(calls: list[dict[str, Any]], *, ignore_billing_header: bool = False) -> Bill:
    """Price upstream calls in order, with Anthropic's prompt caching (see the module doc).

    ``ignore_billing_header``: leave the CLI's ``x-anthropic-billing-header`` system block out of
    cache matching (its 3 hex digits change with each cold process's first prompt; whether
    Anthropic matches cache prefixes across them is not documented).
    """
    bill = Bill()
    cache: dict[tuple[str, str], float] = {}  # (tier, prefix hash) -> last use
    for call in calls:
        body, now = call["body"], call["t"]
        tier = tier_of(str(body.get("model", "sonnet")))
        blocks = _blocks(body)
        tokens = [estimate_tokens(text) for text, _ in blocks]
        cum = np.cumsum([0, *tokens])
        digest = hashlib.sha256()
        prefixes = []
        for text, _ in blocks:
            if not (ignore_billing_header and text.startswith("x-anthropic-billing-header")):
                digest.update(hashlib.sha256(text.encode()).digest())
            prefixes.append(digest.hexdigest())
        breakpoints = [i for i, (_, bp) in enumerate(blocks) if bp]
        read_end = -1
        for i, prefix in enumerate(prefixes):
            live = cache.get((tier, prefix))
            near = any(0 <= b - i < LOOKBACK_BLOCKS for b in breakpoints)
            if live is not None and now - live <= CACHE_TTL and near:
                read_end = i
        read = int(cum[read_end + 1])
        written_end = read_end
        for b in breakpoints:
            if int(cum[b + 1]) >= MIN_CACHEABLE[tier]:
                cache[(tier, prefixes[b])] = now
                written_end = max(written_end, b)
        if read_end >= 0:
            cache[(tier, prefixes[read_end])] = now
        write = int(cum[written_end + 1]) - read
        total = int(cum[-1])
        bill.add(tier, total - read - write, write, read, call["output"], call["thinking"])
    return bill


def price_direct(requests: list[Request], history: dict[str, list[dict[str, str]]]) -> Bill:
    """The baseline: each client request sent to the Anthropic API on sonnet, no caching."""
    bill = Bill()
    for req in requests:
        messages = history[req.id]
        total = sum(estimate_tokens(f"{m['role']}:{m['content']}") for m in messages)
        bill.add("sonnet", total, 0, 0, req.answer_tokens, 0)
    return bill


# --- the service ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One configuration of the replay."""

    name: str
    lever: str
    body: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)


STEPS = (
    Step("naive wrapper", "-", {"model": "sonnet", "mode": "agent", "cache": False}),
    Step(
        "compact chat mode",
        "compact chat mode",
        {"model": "sonnet", "cache": False, "reasoning_effort": "high"},
    ),
    Step("thinking off", "thinking off unless asked", {"model": "sonnet", "cache": False}),
    Step("routing", "routing (learned, model auto)", {"model": "auto", "cache": False}),
    Step("response cache", "response cache", {"model": "auto"}),
    Step("sessions", "session prompt caching (#13)", {"model": "auto"}, SESSIONS_ON),
)
#: Measured next to the steps, not a lever: every lever on, but cold CLI processes (no warm
#: worker, so no ``/clear`` caveat block before each prompt).
SIDE_STEPS = (
    Step(
        "all on, cold workers",
        "CCAPI_WARM_WORKERS=false",
        {"model": "auto"},
        {**SESSIONS_ON, "CCAPI_WARM_WORKERS": "false"},
    ),
)


def start_service(
    port: int, work: Path, upstream: FakeAnthropic, claude: Path, extra: dict[str, str]
) -> subprocess.Popen[bytes]:
    """``claude-code-api serve`` on the real binary, pointed at the fake upstream."""
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "CLAUDECODE"}
    env.update(upstream.cli_env(home, CLAUDE_CODE_MAX_RETRIES="0"))
    env.update(
        {
            "CCAPI_CLAUDE_BIN": str(claude),
            "CCAPI_ADMIN_KEY": ADMIN,
            "CCAPI_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
            "CCAPI_ALLOW_AGENT_MODE": "true",
            "CCAPI_TASK_TIMEOUT": "120",
            "CCAPI_DEFAULT_RATE_LIMIT": "100000",
            "CCAPI_LOG_LEVEL": "WARNING",
            "CCAPI_PRICING": json.dumps(
                {t: {"input": i / 1000, "output": o / 1000} for t, (i, o) in LIST_PRICES.items()}
            ),
            **SESSIONS_OFF,
            **extra,
        }
    )
    cli = Path(sys.executable).parent / "claude-code-api"
    log = (work / "service.log").open("wb")
    try:
        return subprocess.Popen(
            [str(cli), "serve", "--port", str(port), "--no-access-log", "--log-level", "warning"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work,
        )  # fmt: skip
    finally:
        log.close()


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Poll ``/readyz`` until the service answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the service did not become ready")


def replay(
    step: Step, requests: list[Request], upstream: Upstream, claude: Path
) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """Run the workload through a fresh service; return the step's records and each request's
    full message list (as the client sent it)."""
    fake = FakeAnthropic(upstream.respond).start()
    work = Path(tempfile.mkdtemp(prefix="ccapi-cost-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_service(port, work, fake, claude, step.env)
    sent: dict[str, list[dict[str, str]]] = {}
    routed: dict[str, str] = {}
    cache_hits = 0
    started = time.monotonic()
    try:
        wait_ready(url, proc)
        created = httpx.post(
            f"{url}/admin/keys",
            json={"project_id": "cost-bench"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        created.raise_for_status()
        headers = {"Authorization": f"Bearer {created.json()['key']}"}
        history: dict[str, list[dict[str, str]]] = {}
        with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
            for req in requests:
                earlier = history.get(req.conversation or "", []) if req.conversation else []
                messages = [*earlier, *req.messages]
                response = client.post(
                    "/v1/chat/completions", json={**step.body, "messages": messages}
                )
                if response.status_code != 200:
                    raise RuntimeError(f"{step.name}: {req.id}: {response.text[:500]}")
                answer = response.json()["choices"][0]["message"]["content"] or ""
                sent[req.id] = messages
                routed[req.id] = response.headers.get("x-ccapi-model", "")
                cache_hits += response.headers.get("x-ccapi-cache") == "hit"
                if req.conversation:
                    history[req.conversation] = [
                        *messages,
                        {"role": "assistant", "content": answer},
                    ]
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        fake.stop()
        shutil.rmtree(work, ignore_errors=True)
    calls = list(upstream.calls)
    upstream.calls.clear()
    record = {
        "seconds": time.monotonic() - started,
        "calls": calls,
        "routed": routed,
        "cache_hits": cache_hits,
        "later_turns_upstream": later_turn_shape(calls),
        "first_call_blocks": [
            {"text": text[:70], "tokens": estimate_tokens(text), "breakpoint": bp}
            for text, bp in (_blocks(calls[0]["body"]) if calls else [])
        ],
    }
    return record, sent


def later_turn_shape(calls: list[dict[str, Any]]) -> str:
    """How a conversation's later turns reached the upstream: ``real turns`` (the earlier
    answers as assistant messages), ``flattened`` (no assistant message: the transcript rendered
    into the user's text), or ``none seen``."""
    shapes = set()
    for call in calls:
        messages = call["body"].get("messages") or []
        text = json.dumps(messages)
        if FOLLOW_UPS[0] in text:
            real = any(m.get("role") == "assistant" for m in messages)
            shapes.add("real turns" if real else "flattened")
    return " + ".join(sorted(shapes)) or "none seen"


# --- the report ----------------------------------------------------------------------------


def routing_quality(strong_share: float) -> dict[str, float]:
    """The quality cost of routing, from the outcome data's held-out test split: at the
    router's operating point, and at the strong share this workload actually got."""
    router = Router()
    test = load_outcomes()["test"]
    at_point = outcome_eval.evaluate("learned", router, test, router.prices)
    weak = np.array([o.weak for o in test])
    strong = np.array([o.strong for o in test])
    scores = np.array([router.route(o.prompt).signals["learned"]["score"] for o in test])
    shares, quality = outcome_eval.curve(scores, weak, strong)
    q_strong = float(strong.mean())
    return {
        "operating_point_strong_share": at_point["strong_share"],
        "quality_vs_all_strong_at_operating_point": at_point["quality_vs_all_strong"],
        "workload_strong_share": strong_share,
        "quality_vs_all_strong_at_workload_share": outcome_eval.quality_at(
            strong_share, shares, quality
        )
        / q_strong,
    }


def print_composition(requests: list[Request], sources: dict[str, str]) -> None:
    """The workload, before any result."""
    counts: dict[str, int] = {}
    for req in requests:
        counts[req.category] = counts.get(req.category, 0) + 1
    print(f"Workload ({WORKLOAD.name}): {len(requests)} requests")
    for category, n in counts.items():
        print(f"  {category:<14} {n:>3}")
    for name, text in sources.items():
        print(f"  source {name}: {text}")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--thinking-ratio", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    requests, sources = load_workload()
    print_composition(requests, sources)
    print(
        f"Assumption: thinking, when on, is {args.thinking_ratio:g}x the answer's tokens. "
        "Prices: list USD/MTok "
        + ", ".join(f"{t} {i:g}/{o:g}" for t, (i, o) in LIST_PRICES.items())
        + f"; cache write {CACHE_WRITE}x, read {CACHE_READ}x input.\n"
    )
    claude = install_claude()
    lengths: dict[str, tuple[int, str]] = {}
    for req in requests:
        if req.turn == 0:
            lengths.setdefault(req.messages[-1]["content"], (req.answer_tokens, req.id))
    upstream = Upstream(lengths, args.thinking_ratio)
    steps = [s for s in STEPS if s.name != "sessions" or SESSIONS_ON]
    results: list[dict[str, Any]] = []
    sent: dict[str, list[dict[str, str]]] = {}
    for step in (*steps, *SIDE_STEPS):
        record, sent = replay(step, requests, upstream, claude)
        bill = price_requests(record["calls"])
        alt = price_requests(record["calls"], ignore_billing_header=True)
        strong = 1 - bill.by_tier.get("haiku", 0) / max(1, bill.calls)
        results.append(
            {
                "step": step.name,
                "lever": step.lever,
                "side": step in SIDE_STEPS,
                "request": step.body,
                "settings": step.env,
                "seconds": record["seconds"],
                "cache_hits": record["cache_hits"],
                "strong_share": strong,
                "later_turns_upstream": record["later_turns_upstream"],
                "bill": bill.to_dict(),
                "usd_if_billing_header_ignored": alt.usd,
                "first_call_blocks": record["first_call_blocks"],
            }
        )
        print(
            f"  ran {step.name}: {bill.calls} upstream calls, ${bill.usd:.4f}, "
            f"{record['seconds']:.0f}s",
            flush=True,
        )
    direct = price_direct(requests, sent)
    quality = routing_quality(next(r["strong_share"] for r in results if r["step"] == "routing"))
    report(results, direct, quality, args.thinking_ratio)
    out = {
        "workload": {"file": WORKLOAD.name, "requests": len(requests), "sources": sources},
        "thinking_ratio": args.thinking_ratio,
        "prices_usd_per_mtok": LIST_PRICES,
        "direct_sonnet_no_cache": direct.to_dict(),
        "steps": results,
        "routing_quality": quality,
        "sessions": "measured" if SESSIONS_ON else "not in this build (SESSIONS_ON is empty)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


def report(
    results: list[dict[str, Any]], direct: Bill, quality: dict[str, float], ratio: float
) -> None:
    """The tables."""
    base = direct.usd
    side = [r for r in results if r["side"]]
    results = [r for r in results if not r["side"]]
    print(
        f"\nDirect to Anthropic on sonnet, no caching: ${base:.4f} ({direct.uncached} input, "
        f"{direct.output} output tokens, {direct.calls} calls)\n"
    )
    print(
        f"{'step':<18} {'calls':>5} {'haiku':>5} {'uncached':>9} {'c.write':>8} {'c.read':>8} "
        f"{'output':>7} {'thinking':>8} {'USD':>8} {'vs direct':>9} {'lever':>8} "
        f"{'USD hdr*':>8}  later turns"
    )
    previous = None
    for r in results:
        b = r["bill"]
        lever = "" if previous is None else f"{(previous - b['usd']) / base:+.1%}"
        print(
            f"{r['step']:<18} {b['upstream_calls']:>5} {b['calls_by_tier'].get('haiku', 0):>5} "
            f"{b['input_uncached']:>9} {b['input_cache_write']:>8} {b['input_cache_read']:>8} "
            f"{b['output']:>7} {b['thinking']:>8} {b['usd']:>8.4f} "
            f"{b['usd'] / base - 1:>+9.1%} {lever:>8} {r['usd_if_billing_header_ignored']:>8.4f}"
            f"  {r['later_turns_upstream']}"
        )
        previous = b["usd"]
    print(
        "* USD if the CLI's x-anthropic-billing-header system block (its 3 hex digits change with "
        "each cold process's first prompt) did not break cache matching (undocumented)"
    )
    for r in results[:3:2]:
        print(f"\nblocks of the first upstream call, {r['step']} (tokens, * = breakpoint):")
        for blk in r["first_call_blocks"]:
            mark = "*" if blk["breakpoint"] else " "
            print(f"  {blk['tokens']:>6} {mark} {blk['text']!r}")
    final = results[-1]["bill"]["usd"]
    print(
        "\nlever: the saving of that step over the step before, as a share of the direct cost "
        f"(thinking at {ratio:g}x the answer). Total vs direct: {final / base - 1:+.1%} "
        f"(the seed claims 60 %+ cheaper: {'met' if final <= 0.4 * base else 'not met'})."
    )
    if not SESSIONS_ON:
        print("session prompt caching (#13): not in this build; the lever is not measured.")
    for r in side:
        b = r["bill"]
        print(
            f"Side run, {r['step']} ({r['lever']}): ${b['usd']:.4f}, {b['usd'] / base - 1:+.1%} vs "
            f"direct ({b['input_uncached']} plain / {b['input_cache_write']} written input tokens)."
        )
    print(
        f"Quality cost of routing (outcome data, held-out test split): "
        f"{quality['quality_vs_all_strong_at_operating_point']:.1%} of all-strong quality at "
        f"the operating point ({quality['operating_point_strong_share']:.1%} strong); "
        f"{quality['quality_vs_all_strong_at_workload_share']:.1%} at this workload's strong "
        f"share ({quality['workload_strong_share']:.1%})."
    )


if __name__ == "__main__":
    sys.exit(main())
