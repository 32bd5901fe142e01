"""The dashboard, the chat page and the offline docs in a real browser (system chromium).

Each test signs in through the page as a user would and checks what the page shows against
the API; charts are checked on their screenshots (a drawn chart has many non-background
pixels in several colours).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import ADMIN_KEY
from tests.dashboard.conftest import Live

#: The first test also starts the server, seeds it and launches chromium: slow on a busy machine.
pytestmark = pytest.mark.timeout(300)

CHARTS = ("chart-spend", "chart-tokens", "chart-latency", "chart-outcomes")


def sign_in(page: Any, live: Live, key: str) -> None:
    page.goto(live.url + "/dashboard")
    page.fill("#signin-key", key)
    page.click("#signin-submit")
    page.wait_for_selector("body[data-overview-ready]")


def wait_reloaded(page: Any, action: Any) -> None:
    """Run ``action`` and wait until the overview has been redrawn after it."""
    before = page.get_attribute("body", "data-overview-ready")
    action()
    page.wait_for_function("before => document.body.dataset.overviewReady !== before", arg=before)


def assert_drawn(page: Any, canvas_id: str, shots: Path) -> None:
    """The chart's screenshot has a drawing on it, not just its background."""
    from PIL import Image

    png = page.locator(f"#{canvas_id}").screenshot(path=str(shots / f"_{canvas_id}.png"))
    with Image.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
        counts = rgb.getcolors(maxcolors=rgb.width * rgb.height) or []
        total = rgb.width * rgb.height
    _, background = max(counts)

    def far(colour: tuple[int, int, int]) -> bool:
        return sum(abs(a - b) for a, b in zip(colour, background, strict=True)) > 60

    drawn = sum(n for n, colour in counts if far(colour))
    colours = {(r // 32, g // 32, b // 32) for _, (r, g, b) in counts if far((r, g, b))}
    assert drawn > 0.02 * total, f"{canvas_id}: only {drawn} of {total} pixels drawn"
    assert len(colours) >= 3, f"{canvas_id}: drawn in {len(colours)} colours only"


def test_admin_sees_every_project_with_charts_drawn(page: Any, live: Live, shots: Path) -> None:
    sign_in(page, live, ADMIN_KEY)
    assert page.text_content("[data-testid=who]") == "admin · all projects"
    options = page.eval_on_selector_all("#ov-project option", "os => os.map(o => o.value)")
    assert {"", "proj-a", "proj-b"} <= set(options)
    everything = live.call("GET", "/dashboard/api/overview?days=30").json()
    assert page.text_content("#kpi-requests") == f"{everything['totals']['requests']:,}"
    for canvas in CHARTS:
        assert_drawn(page, canvas, shots)
    rows = page.locator("#errors-table tbody tr")
    assert rows.count() >= 1
    page.screenshot(path=str(shots / "dashboard-admin-all-projects.png"), full_page=True)

    wait_reloaded(page, lambda: page.select_option("#ov-project", "proj-a"))
    assert_drawn(page, "chart-budget", shots)
    note = page.text_content("#budget-note") or ""
    projects = {
        r["project_id"]: r for r in live.call("GET", "/dashboard/api/projects").json()["data"]
    }
    assert f"of {projects['proj-a']['monthly_limit']:,} tokens used (65.0 %)" in note
    assert "Alerts fired this month: 50 %" in note
    page.screenshot(path=str(shots / "dashboard-admin-proj-a-budget.png"), full_page=True)


def test_project_key_sees_only_its_own_project(page: Any, live: Live, shots: Path) -> None:
    key = live.keys["proj-a"]
    sign_in(page, live, key)
    assert page.text_content("[data-testid=who]") == "project proj-a"
    options = page.eval_on_selector_all("#ov-project option", "os => os.map(o => o.value)")
    assert options == ["proj-a"]
    own = live.call("GET", "/dashboard/api/overview?days=30", key).json()
    everything = live.call("GET", "/dashboard/api/overview?days=30").json()
    assert own["totals"]["tokens"] < everything["totals"]["tokens"]
    assert page.text_content("#kpi-tokens") == f"{own['totals']['tokens']:,}"
    for canvas in (*CHARTS, "chart-budget"):
        assert_drawn(page, canvas, shots)
    assert "proj-b" not in page.content()
    assert not page.is_visible("nav a[data-view=keys]")
    assert not page.is_visible("#errors-table")
    # The page's own key cannot reach another project or the admin routes, whatever it asks.
    statuses = page.evaluate(
        """async key => {
            const h = {headers: {Authorization: 'Bearer ' + key}};
            const paths = ['/dashboard/api/overview?project_id=proj-b', '/admin/keys',
                           '/dashboard/api/errors', '/v1/usage?project_id=proj-b'];
            return Promise.all(paths.map(p => fetch(p, h).then(r => r.status)));
        }""",
        key,
    )
    assert statuses == [403, 403, 403, 403]
    page.goto(live.url + "/dashboard#keys")
    page.wait_for_selector("body[data-overview-ready]")
    assert page.is_hidden("#view-keys")
    page.screenshot(path=str(shots / "dashboard-project-key.png"), full_page=True)


def test_chat_streams_an_answer_with_its_model_and_cost(page: Any, live: Live, shots: Path) -> None:
    key = live.keys["proj-a"]
    sign_in(page, live, key)
    page.click("nav a[data-view=chat]")
    models = page.eval_on_selector_all("#chat-model option", "os => os.map(o => o.value)")
    assert models[0] == "auto" and "haiku" in models
    page.select_option("#chat-model", "auto")
    page.fill("#chat-text", "Name three rivers of Europe [[sim:chunk_delay=0.15]]")
    page.press("#chat-text", "Enter")
    # Part of the answer is on the page while it is still streaming ...
    page.wait_for_selector(".msg.assistant.streaming[data-chunks]")
    partial = page.text_content(".msg.assistant .body") or ""
    page.wait_for_selector(".msg.assistant[data-done]")
    final = page.text_content(".msg.assistant .body") or ""
    assert partial and final.startswith(partial) and len(final) > len(partial)
    assert int(page.get_attribute(".msg.assistant", "data-chunks") or 0) > 1
    assert "You said: Name three rivers of Europe" in final
    # ... and the answer says which model `auto` routed to and what it cost.
    routed = page.text_content("[data-testid=answer-model]") or ""
    assert routed.startswith("claude-") and routed in final
    cost = page.text_content("[data-testid=answer-cost]") or ""
    assert cost.startswith("$") and float(cost[1:]) > 0

    page.select_option("#chat-model", "haiku")
    page.fill("#chat-text", "And one in Africa?")
    page.press("#chat-text", "Enter")
    page.wait_for_selector(".msg.assistant[data-done] >> nth=1")
    second = page.locator(".msg.assistant").nth(1)
    assert "haiku" in (second.locator("[data-testid=answer-model]").text_content() or "")
    page.screenshot(path=str(shots / "chat-streamed-answers.png"))


def test_admin_creates_and_revokes_a_key(page: Any, live: Live, shots: Path) -> None:
    sign_in(page, live, ADMIN_KEY)
    page.click("nav a[data-view=keys]")
    page.fill("#key-project", "proj-c")
    page.fill("#key-name", "ci bot")
    page.fill("#key-rate", "30")
    page.select_option("#key-tier", "haiku")
    page.click("#key-create")
    page.wait_for_selector("#key-secret:not([hidden])")
    secret = page.text_content("[data-testid=new-key]") or ""
    assert secret.startswith("ccapi_")
    me = live.call("GET", "/dashboard/api/me", secret).json()
    assert (me["project_id"], me["rate_limit"], me["max_tier"]) == ("proj-c", 30, "haiku")
    row = page.locator("#keys-table tbody tr", has_text="ci bot")
    assert "30/min" in (row.text_content() or "") and "haiku" in (row.text_content() or "")
    page.screenshot(path=str(shots / "keys-created-shown-once.png"))
    page.click("#key-dismiss")
    assert page.text_content("[data-testid=new-key]") == ""
    assert secret not in page.content()

    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button", has_text="Revoke").click()
    page.wait_for_selector("#keys-table tbody tr.revoked:has-text('ci bot')")
    assert live.call("GET", "/dashboard/api/me", secret).status_code == 401


def test_admin_sets_a_budget_and_sees_the_burn(page: Any, live: Live, shots: Path) -> None:
    sign_in(page, live, ADMIN_KEY)
    page.click("nav a[data-view=budgets]")
    page.wait_for_selector("#budgets-table tr[data-project=proj-b]")
    page.fill("#budget-project", "proj-b")
    page.fill("#budget-limit", "50000")
    page.click("#budget-save")
    page.wait_for_selector("#budgets-table tr[data-project=proj-b] .fill.w100")
    rows = {r["project_id"]: r for r in live.call("GET", "/dashboard/api/projects").json()["data"]}
    assert rows["proj-b"]["monthly_limit"] == 50_000
    assert page.locator("#budgets-table tr[data-project=proj-a] .fill.w50").count() == 1
    page.screenshot(path=str(shots / "budgets.png"))


def test_docs_pages_load_without_internet(page: Any, live: Live, shots: Path) -> None:
    requested: list[str] = []

    def only_local(route: Any) -> None:
        requested.append(route.request.url)
        if route.request.url.startswith(live.url):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", only_local)
    page.goto(live.url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title:has-text('Claude Code API Service')")
    page.wait_for_selector(".opblock-summary-path:has-text('/v1/chat/completions')")
    page.screenshot(path=str(shots / "docs-swagger-offline.png"))
    page.goto(live.url + "/redoc")
    page.wait_for_selector("h1:has-text('Claude Code API Service')")
    outside = [url for url in requested if not url.startswith(live.url)]
    assert requested and not outside, outside
