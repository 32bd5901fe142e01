"""The seed profile's decisions, their precedence, explanations and costs (the seed's four
router tests run against ``Router(load_rules("seed"))``; the learned default has its own tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_code_api.config import Settings
from claude_code_api.errors import InvalidRequestError
from claude_code_api.pricing import TIERS, PriceTable
from claude_code_api.routing import Router, auto_select_model, estimate_tokens, load_rules

SEED = Router(load_rules("seed"))


def seed_select(prompt: str, context_size: int = 0, budget_remaining: int | None = None) -> str:
    """The seed's ``auto_select_model`` on the seed profile."""
    return SEED.route(prompt, context_size=context_size, budget_remaining=budget_remaining).model


@pytest.fixture(scope="module")
def router() -> Router:
    return SEED


def test_simple_task_routes_to_haiku() -> None:
    assert seed_select("What is the capital of France?") == "haiku"
    assert seed_select("hi") == "haiku"
    assert seed_select("Translate 'good night' into Spanish") == "haiku"


def test_complex_task_routes_to_sonnet() -> None:
    prompt = "Analyze this architecture and debug the race condition in the order service"
    assert seed_select(prompt) == "sonnet"
    assert seed_select("Implement a thread-safe LRU cache in Go with TTL expiry") == "sonnet"


def test_large_context_routes_to_opus() -> None:
    assert seed_select("Summarise this", context_size=50_000) == "opus"
    assert seed_select("word " * 60_000) == "opus"  # the prompt itself is large


def test_low_budget_forces_haiku() -> None:
    prompt = "Analyze and refactor the architecture of this service"
    assert seed_select(prompt, budget_remaining=999) == "haiku"
    assert seed_select(prompt, budget_remaining=0) == "haiku"
    assert seed_select(prompt, budget_remaining=100_000) == "sonnet"
    assert auto_select_model(prompt, budget_remaining=999) == "haiku"  # the learned default too


def test_low_budget_wins_over_large_context(router: Router) -> None:
    decision = router.route("Summarise this", context_size=50_000, budget_remaining=500)
    assert decision.model == "haiku"
    assert decision.rule == "low_budget"
    assert "500 budget tokens remain" in decision.reasoning


def test_large_context_wins_over_analysis_keywords(router: Router) -> None:
    decision = router.route("Debug this crash", context_size=10_001)
    assert (decision.model, decision.rule) == ("opus", "large_context")
    assert router.route("Debug this crash", context_size=5_000).model == "sonnet"


def test_analysis_keywords_win_over_short_simple_prompt(router: Router) -> None:
    # Under 100 characters with a simple keyword ("what is"), but it asks for analysis.
    decision = router.route("What is the root cause? Analyze it")
    assert (decision.model, decision.rule) == ("sonnet", "analysis")


def test_context_threshold_is_strictly_over_10k(router: Router) -> None:
    prompt_tokens = estimate_tokens("Summarise this")
    assert router.route("Summarise this", context_size=10_000 - prompt_tokens).model == "haiku"
    assert router.route("Summarise this", context_size=10_001 - prompt_tokens).model == "opus"


def test_default_tier_is_sonnet_when_no_rule_matches(router: Router) -> None:
    decision = router.route("Write a Rust parser for INI files with good error messages " * 3)
    assert (decision.model, decision.rule) == ("sonnet", "default")
    assert "no rule matched" in decision.reasoning


def test_matching_is_case_insensitive_and_word_bounded(router: Router) -> None:
    loud = router.route("DEBUGGING this REFACTOR please")
    assert loud.signals["matched_keywords"]["analysis"] == ["debugging", "refactor"]
    # "hi" inside "this" / "history" is not the keyword "hi".
    quiet = router.route("this history")
    assert "simple" not in quiet.signals["matched_keywords"]
    assert router.route("Oh HI there").signals["matched_keywords"]["simple"] == ["hi"]


def test_signals_describe_structure(router: Router) -> None:
    prompt = "Do this:\n1. parse\n2. validate\n3) store\n- note\n```py\nx = 1\n```\nOk?"
    signals = router.route(prompt).signals
    assert signals["numbered_steps"] == 3
    assert signals["bullets"] == 1
    assert signals["code_blocks"] == 1
    assert signals["questions"] == 1
    assert signals["estimated_tokens"] == estimate_tokens(prompt)
    assert signals["rule"] in {"default", "short_chat", "simple_transform"}


def test_empty_prompt_is_routed_cheaply(router: Router) -> None:
    decision = router.route("")
    assert decision.model == "haiku"
    assert decision.signals["estimated_tokens"] == 0
    assert decision.signals["chars"] == 0


def test_huge_prompt_is_routed(router: Router) -> None:
    prompt = "Please summarise the following log.\n\n" + (
        "2024-05-14T09:12:44Z ERROR payments gateway timeout request_id=abc123\n" * 15_000
    )
    assert len(prompt) > 1_000_000
    decision = router.route(prompt)
    assert decision.model == "opus"
    assert decision.signals["total_tokens"] > 10_000


def test_non_english_prompts(router: Router) -> None:
    chinese = router.route("请把这句话翻译成英文：我喜欢猫")  # noqa: RUF001
    assert chinese.model == "haiku"
    assert chinese.signals["estimated_tokens"] >= 15  # ~1 token per CJK character
    russian = router.route("Как по-английски будет «приятного аппетита»?")
    assert russian.model == "haiku"
    # A long Japanese document with a question still counts as large context.
    assert (
        router.route("この文書を要約してください。" + "今日は良い天気です。" * 1_500).model
        == "opus"
    )


def test_transform_asks_in_other_languages_go_to_haiku(router: Router) -> None:
    email = "\n\n" + "Wir haben die Lieferung am Montag erhalten, aber zwei Kartons fehlen. " * 6
    german = router.route("Übersetze diese E-Mail bitte ins Englische:" + email)
    assert (german.model, german.rule) == ("haiku", "simple_transform")
    korean = router.route(
        "다음 고객 리뷰를 긍정, 부정, 중립으로 분류해 주세요:\n\n" + "배송이 빨라요. " * 40
    )
    assert korean.model == "haiku"


def test_short_code_requests_go_to_haiku_unless_they_carry_risk(router: Router) -> None:
    script = router.route("bash script: delete *.gz files older than 14 days under /var/log/app")
    assert (script.model, script.rule) == ("haiku", "short_code")
    for risky in (
        "Implement a thread-safe LRU cache in Go with a configurable capacity",
        "My Python script fails with a UnicodeDecodeError when reading a CSV file",
    ):
        assert router.route(risky).model == "sonnet", risky


def test_analysis_keywords_in_pasted_material_do_not_count(router: Router) -> None:
    postmortem = (
        "\n\nRoot cause: a deadlock between the billing worker and the ledger writer. We spent "
        "two days debugging the race condition and tracing the bottleneck in production. " * 3
    )
    update = router.route("Turn this postmortem into a 3-line update for the team:" + postmortem)
    assert update.model == "haiku"
    analysis = router.route("Analyze this postmortem and find the gaps:" + postmortem)
    assert (analysis.model, analysis.rule) == ("sonnet", "analysis")


def test_prove_or_disprove_is_hard_reasoning(router: Router) -> None:
    decision = router.route("Prove or disprove that this merge function is associative.")
    assert (decision.model, decision.rule) == ("opus", "hard_reasoning")


def test_short_personal_or_medical_questions_are_not_sent_to_haiku(router: Router) -> None:
    assert router.route("What's a good name for a cat who loves boxes?").model == "haiku"
    for delicate in (
        "My 14-year-old has been refusing to go to school for two weeks. What should I do?",
        "I think I'm about to be laid off. How should I prepare?",
    ):
        assert router.route(delicate).model == "sonnet", delicate


def test_an_email_thread_is_not_concurrency(router: Router) -> None:
    thread = "\n\nFrom: Ana\nThe launch moves to Friday; legal signed off on the copy.\n" * 4
    decision = router.route("Summarize this thread in 3 bullets:" + thread)
    assert (decision.model, decision.rule) == ("haiku", "simple_transform")


def test_proof_or_counterexample_is_hard_reasoning(router: Router) -> None:
    decision = router.route("I need a proof or a counterexample: is this merge commutative?")
    assert (decision.model, decision.rule) == ("opus", "hard_reasoning")


def test_budget_downgrade_picks_a_cheaper_tier_that_fits(router: Router) -> None:
    prompt = "Analyze the design of this module and suggest a refactor. " + "x = compute(y)\n" * 200
    tokens = estimate_tokens(prompt)
    output = router.rules.expected_output_tokens
    budget = tokens + output["haiku"] + 10  # enough for haiku's request, not sonnet's
    assert budget >= router.rules.low_budget_tokens
    assert tokens + output["sonnet"] > budget
    decision = router.route(prompt, budget_remaining=budget)
    assert decision.model == "haiku"
    assert decision.rule == "analysis"
    assert decision.signals["downgraded_from"] == "sonnet"
    assert "downgraded from sonnet" in decision.reasoning
    assert router.route(prompt, budget_remaining=budget + 10_000).model == "sonnet"


def test_budget_downgrade_from_opus_keeps_the_most_capable_fit(router: Router) -> None:
    output = router.rules.expected_output_tokens
    total = estimate_tokens("Summarise this") + 12_000
    budget = total + output["sonnet"]  # sonnet fits exactly, opus does not
    decision = router.route("Summarise this", context_size=12_000, budget_remaining=budget)
    assert (decision.model, decision.signals["downgraded_from"]) == ("sonnet", "opus")


def test_when_no_tier_fits_the_cheapest_is_used(router: Router) -> None:
    decision = router.route("Summarise this", context_size=20_000, budget_remaining=5_000)
    assert decision.model == "haiku"
    assert "no tier fits" in decision.reasoning


def test_estimated_cost_per_tier_uses_the_price_table(router: Router) -> None:
    prompt = "Explain the CAP theorem trade-offs for our design"
    decision = router.route(prompt, context_size=100, max_tokens=300)
    total = estimate_tokens(prompt) + 100
    prices = PriceTable()
    assert set(decision.estimated_cost) == set(TIERS)
    for tier in TIERS:
        assert decision.estimated_cost[tier] == pytest.approx(prices.cost(tier, total, 300))
    assert decision.estimated_cost["haiku"] < decision.estimated_cost["sonnet"]
    assert decision.estimated_cost["sonnet"] < decision.estimated_cost["opus"]


def test_to_dict_is_json_ready(router: Router) -> None:
    data = router.route("hi", budget_remaining=50_000).to_dict()
    assert set(data) == {"model", "reasoning", "rule", "signals", "estimated_cost", "probability"}
    assert data["model"] == "haiku"
    assert data["signals"]["budget_remaining"] == 50_000
    assert "haiku" in data["reasoning"]


def test_invalid_arguments_are_rejected(router: Router) -> None:
    with pytest.raises(InvalidRequestError):
        router.route("hi", context_size=-1)
    with pytest.raises(InvalidRequestError):
        router.route("hi", max_tokens=0)


def test_from_settings_reads_rules_file_and_pricing(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('extends = "default"\n[budget]\nlow_budget_tokens = 5000\n')
    settings = Settings(router_rules=str(rules), pricing={"haiku": {"input": 1.0, "output": 1.0}})
    router = Router.from_settings(settings)
    decision = router.route("Analyze the module", budget_remaining=4_000, max_tokens=1000)
    assert decision.model == "haiku"
    total = estimate_tokens("Analyze the module")
    assert decision.estimated_cost["haiku"] == pytest.approx((total + 1000) / 1000)


def test_model_router_seed_module_reexports() -> None:
    from claude_code_api import model_router

    assert model_router.auto_select_model("hello") == "haiku"
    assert model_router.estimate_tokens is estimate_tokens


def test_a_tier_cap_is_applied_last_and_explained(router: Router) -> None:
    long_doc = "word " * 50_000
    decision = router.route("Summarise this:\n\n" + long_doc, max_tier="sonnet")
    assert decision.model == "sonnet"
    assert decision.signals["capped_from"] == "opus"
    assert "capped at sonnet by the API key (the router chose opus)" in decision.reasoning
    assert router.route("hi", max_tier="sonnet").signals["capped_from"] is None
    with pytest.raises(InvalidRequestError, match="max_tier"):
        router.route("hi", max_tier="gpt")
