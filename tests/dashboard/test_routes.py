"""The dashboard's JSON routes and the offline docs pages, over HTTP (no browser)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import admin_headers, bearer, chat_body, create_key, usage_when


async def overview(client: httpx.AsyncClient, key: str, query: str = "") -> httpx.Response:
    return await client.get(f"/dashboard/api/overview{query}", headers=bearer(key))


async def test_overview_counts_requests_cache_hits_failures_and_latency(
    client: httpx.AsyncClient,
) -> None:
    key = await create_key(client, "proj-a")
    for content in ("one", "one", "two"):  # the second "one" is a cache hit
        response = await client.post(
            "/v1/chat/completions", json=chat_body(content), headers=bearer(key)
        )
        assert response.status_code == 200
    failed = await client.post(
        "/v1/chat/completions", json=chat_body("[[sim:exit=3]]"), headers=bearer(key)
    )
    assert failed.status_code >= 500
    usage = await usage_when(client, key, lambda u: u["requests"] >= 4)
    body = (await overview(client, key)).json()
    assert body["project_id"] == "proj-a"
    assert body["outcomes"] == {"ok": 3, "error": 1}
    assert body["cache"] == {"hits": 1, "requests": 3, "hit_rate": pytest.approx(1 / 3)}
    assert body["latency"]["samples"] == 3
    assert 0 <= body["latency"]["p50_ms"] <= body["latency"]["p95_ms"]
    assert body["totals"]["tokens"] == usage["total_tokens"]
    assert body["totals"]["requests"] == usage["requests"] == 4
    assert {row["model"] for row in body["daily"]} == set(usage["by_model"])
    assert len(body["days"]) == 30 and body["days"][-1] == body["daily"][0]["day"]
    assert body["budget"]["monthly_limit"] is None
    assert body["budget"]["cumulative"][-1]["tokens"] == usage["total_tokens"]


async def test_a_project_key_never_sees_another_project(client: httpx.AsyncClient) -> None:
    key_a = await create_key(client, "proj-a")
    key_b = await create_key(client, "proj-b")
    response = await client.post(
        "/v1/chat/completions", json=chat_body("secret b"), headers=bearer(key_b)
    )
    assert response.status_code == 200
    await usage_when(client, key_b, lambda u: u["requests"] == 1)

    denied = await overview(client, key_a, "?project_id=proj-b")
    assert denied.status_code == 403
    assert denied.json()["error"]["type"] == "permission_error"
    assert "secret" not in denied.text
    own = (await overview(client, key_a)).json()
    assert own["project_id"] == "proj-a" and own["totals"]["requests"] == 0
    rows = (await client.get("/dashboard/api/projects", headers=bearer(key_a))).json()["data"]
    assert [r["project_id"] for r in rows] == ["proj-a"]  # not spent yet: still listed
    assert (await client.get("/dashboard/api/errors", headers=bearer(key_a))).status_code == 403

    everything = (await client.get("/dashboard/api/overview", headers=admin_headers())).json()
    assert everything["project_id"] is None and everything["budget"] is None
    assert everything["totals"]["requests"] == 1
    admin_rows = (await client.get("/dashboard/api/projects", headers=admin_headers())).json()
    assert {"proj-a", "proj-b"} <= {r["project_id"] for r in admin_rows["data"]}


async def test_projects_show_the_budget_burn(client: httpx.AsyncClient) -> None:
    key = await create_key(client, "proj-a")
    await client.post("/v1/chat/completions", json=chat_body("spend"), headers=bearer(key))
    usage = await usage_when(client, key, lambda u: u["requests"] == 1)
    limit = 4 * usage["total_tokens"]
    put = await client.put(
        "/admin/projects/proj-a/budget", json={"monthly_limit": limit}, headers=admin_headers()
    )
    assert put.status_code == 200
    for _ in range(200):  # budget settlements are batched: poll (as admin: no rate limit)
        query = "/dashboard/api/overview?project_id=proj-a"
        body = (await client.get(query, headers=admin_headers())).json()
        if body["budget"]["used_tokens"] == usage["total_tokens"]:
            break
        await asyncio.sleep(0.05)
    budget = body["budget"]
    assert budget["monthly_limit"] == limit and budget["thresholds"] == [50, 80, 100]
    assert budget["remaining"] == limit - usage["total_tokens"]
    row = (await client.get("/dashboard/api/projects", headers=bearer(key))).json()["data"][0]
    assert row["used_pct"] == 25.0


async def test_me_and_errors(client: httpx.AsyncClient) -> None:
    key = await create_key(client, "proj-a")
    me = (await client.get("/dashboard/api/me", headers=bearer(key))).json()
    assert me["is_admin"] is False and me["project_id"] == "proj-a"
    assert (await client.get("/dashboard/api/me", headers=bearer("nope"))).status_code == 401
    assert (await client.get("/dashboard/api/me")).status_code == 401
    errors = (await client.get("/dashboard/api/errors", headers=admin_headers())).json()
    by_status = {row["status"]: row for row in errors["data"]}
    assert by_status[401]["type"] == "authentication_error"
    assert by_status[401]["count"] == 2
    assert by_status[401]["routes"] == {"/dashboard/api/me": 2}


async def test_window_is_validated(client: httpx.AsyncClient) -> None:
    for days in ("0", "367", "x"):
        response = await client.get(f"/dashboard/api/overview?days={days}", headers=admin_headers())
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "days"


async def test_dashboard_page_and_assets_are_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(not s.startswith(("http:", "https:", "//")) for s in sources)
    for source in sources:
        if source.startswith("dashboard/"):
            assert (await client.get("/" + source)).status_code == 200, source
    chart = await client.get("/dashboard/static/vendor/chart.umd.min.js")
    assert chart.text.startswith("/*!\n * Chart.js v4")


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_docs_reference_only_local_assets(client: httpx.AsyncClient, path: str) -> None:
    page = await client.get(path)
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls and all(url.startswith("/docs-assets/") for url in urls), urls
    assert "cdn" not in page.text.lower()
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url


async def test_swagger_oauth2_redirect_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs/oauth2-redirect")
    assert response.status_code == 200 and "oauth2" in response.text.lower()


def test_the_wheel_ships_the_dashboard_files(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    hatchling = Path(sys.executable).parent / "hatchling"
    subprocess.run(
        [str(hatchling), "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    static = "claude_code_api/dashboard/static/"
    for name in ("index.html", "app.js", "app.css", "vendor/chart.umd.min.js"):
        assert static + name in names
    assert static + "vendor/chart.js-LICENSE.md" in names
