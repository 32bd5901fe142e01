"""The learned default router: its decision, probability and signals, the operating point, the
hard constraints around it, the truncation rule, and that it carries signal on held-out data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from claude_code_api.config import Settings
from claude_code_api.pricing import TIERS
from claude_code_api.routing import Router, estimate_tokens, load_rules
from claude_code_api.routing.learned import HEAD_CHARS, MAX_CHARS, packaged_model, truncate

BENCH = Path(__file__).parents[2] / "bench"
MATH = (
    "A bakery sells 14 boxes of 12 muffins each day and gives away 3 boxes. If each muffin "
    "costs $2.50, how much money does it make in a 30-day month? Show the calculation."
)


@pytest.fixture(scope="module")
def learned() -> Router:
    return Router()


def test_the_default_router_is_the_learned_one(learned: Router) -> None:
    assert learned.profile == "learned"
    assert Router.from_settings(Settings()).profile == "learned"
    assert Router.from_settings(Settings(router_rules="learned")).profile == "learned"
    assert Router.from_settings(Settings(router_rules="seed")).profile == "seed"


def test_a_decision_has_its_probability_signals_and_costs(learned: Router) -> None:
    d = learned.route(MATH)
    assert d.model in ("haiku", "sonnet") and d.rule == "learned"
    info = d.signals["learned"]
    assert d.probability == info["p_strong"] and 0 < d.probability < 1
    assert info["score"] == pytest.approx(info["p_strong"] - info["p_weak"], abs=1e-3)
    assert info["strong_share"] == 0.3
    assert (info["score"] > info["threshold"]) == (d.model == "sonnet")
    assert info["top_features"] and all(isinstance(v, float) for _, v in info["top_features"])
    assert set(d.estimated_cost) == set(TIERS)
    assert "P(only the strong tier answers well)" in d.reasoning
    for tier in TIERS:  # every tier's estimate is named once
        assert d.reasoning.count(f"on {tier}") == 1
    assert d.to_dict()["probability"] == d.probability


def test_the_operating_point_moves_the_threshold() -> None:
    prompts = [MATH, "hi", "Translate 'thank you' into German", "Prove that sqrt(2) is irrational"]
    never, always = Router(strong_share=0.0), Router(strong_share=1.0)
    assert {never.route(p).model for p in prompts} == {"haiku"}
    assert {always.route(p).model for p in prompts} == {"sonnet"}
    scores = [Router().route(p).signals["learned"]["score"] for p in prompts]
    share = Router.from_settings(Settings(router_strong_share=0.5))
    assert share.strong_share == 0.5
    assert (
        share.route(MATH).signals["learned"]["threshold"]
        < Router().route(MATH).signals["learned"]["threshold"]
    )
    assert len(set(scores)) == len(scores)  # the prompts are told apart
    with pytest.raises(ValidationError):
        Settings(router_strong_share=1.5)
    with pytest.raises(ValueError, match="strong_share"):
        Router(strong_share=-0.1)


def test_the_learned_router_never_picks_opus() -> None:
    always = Router(strong_share=1.0)
    assert always.route("Prove this theorem", context_size=80_000).model == "sonnet"


def test_hard_constraints_stay_rules() -> None:
    always = Router(strong_share=1.0)
    low = always.route(MATH, budget_remaining=999)
    assert (low.model, low.rule) == ("haiku", "low_budget")
    assert low.probability is None  # the model was not asked
    # sonnet's estimate (prompt + 768 expected output) exceeds what remains, haiku's (+256) fits
    long_math = MATH * 30  # over the 1,000-token low-budget line, so the fit rule decides
    need_haiku = estimate_tokens(long_math) + 256
    fit = always.route(long_math, budget_remaining=need_haiku + 10)
    assert fit.model == "haiku" and fit.signals["downgraded_from"] == "sonnet"
    capped = always.route(MATH, max_tier="haiku")
    assert capped.model == "haiku" and capped.signals["capped_from"] == "sonnet"
    assert "capped at haiku by the API key (the router chose sonnet)" in capped.reasoning


def test_long_prompts_are_cut_to_their_head_and_tail() -> None:
    model = packaged_model()
    head, tail = "Solve for x: 3x + 7 = 22. " * 40, " What is x? Give the number."
    middle_a, middle_b = "lorem ipsum " * 5_000, "dolor sit amet " * 4_000
    a, b = head + middle_a + tail, head + middle_b + tail
    assert len(truncate(a)) <= MAX_CHARS + 1 and truncate(a).startswith(a[:HEAD_CHARS])
    assert truncate(a).endswith(tail) and truncate("short") == "short"
    # only the length bucket of the whole prompt differs, not the (cut) words
    assert model.predict(a).score == pytest.approx(model.predict(b).score, abs=0.05)


def test_the_seed_profile_reasoning_names_every_tier_once() -> None:
    d = Router(load_rules("seed")).route("Summarise this", context_size=50_000)
    assert d.model == "opus"
    assert "on opus vs" not in d.reasoning and d.reasoning.count("on opus") == 1
    assert "on haiku" in d.reasoning and "on sonnet" in d.reasoning


def test_the_model_carries_signal_on_the_held_out_split() -> None:
    sys.path.insert(0, str(BENCH))
    import numpy as np

    from _outcomes import load
    from train_router import auc

    test = load()["test"][:1000]
    model = packaged_model()
    scores = model.score_many([o.prompt for o in test])
    needed = np.array([o.label == 2 for o in test])
    assert auc(scores, needed) > 0.6  # the seed's rules score about 0.5 here
    assert model.meta["strong_model"] == "gpt-4-1106-preview"
