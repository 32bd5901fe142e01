"""A live service with seeded usage, and the system chromium driven by Playwright.

The browser is Debian's ``chromium`` (``apt-get install chromium chromium-driver``); Playwright
never downloads one. A missing browser fails the tests: it is a broken environment, not a
reason to skip. Screenshots go to a temporary directory; with ``CCAPI_SCREENSHOTS_DIR`` set they
are also copied there, shrunk (how ``docs/screenshots/`` is refreshed).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from claude_code_api.app import create_app
from tests.api import conftest as api_fixtures
from tests.api.conftest import ADMIN_KEY, ServerThread, make_settings
from tests.dashboard.seed import seed

#: The in-process app and client of the API tests, for the JSON route tests here.
app_client = api_fixtures.app_client
client = api_fixtures.client

CHROMIUM = os.environ.get("CCAPI_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class Live:
    """The served app plus helpers to call it with a key."""

    def __init__(self, server: ServerThread) -> None:
        self.server = server
        self.url = server.url
        self.keys: dict[str, str] = {}

    def call(self, method: str, path: str, key: str = ADMIN_KEY, **kwargs: Any) -> httpx.Response:
        """One request with ``Authorization: Bearer key``."""
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def create_key(self, project: str, **body: Any) -> str:
        """A new key for ``project`` through ``POST /admin/keys``."""
        response = self.call("POST", "/admin/keys", json={"project_id": project, **body})
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        return key


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The service on the simulated CLI, with two weeks of usage for proj-a and proj-b."""
    tmp = tmp_path_factory.mktemp("dashboard")
    # In a thread of its own: Playwright's sync API keeps an event loop on this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, seed(tmp / "test.db")).result()
    settings = make_settings(tmp, default_rate_limit=10_000)
    with ServerThread(create_app(settings)) as server:
        live = Live(server)
        live.keys = {p: live.create_key(p, name=f"{p} app") for p in ("proj-a", "proj-b")}
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless system chromium (fails, never skips, when it is missing)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's browser with "
            "`apt-get install -y chromium chromium-driver` (Playwright's own download is not used)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page (no shared session storage between tests)."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)  # generous: the machine may be loaded
    yield page
    context.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the tests save screenshots (and, with CCAPI_SCREENSHOTS_DIR, shrunk copies)."""
    where = tmp_path_factory.mktemp("screenshots")
    yield where
    target = os.environ.get("CCAPI_SCREENSHOTS_DIR")
    if target:
        from PIL import Image

        Path(target).mkdir(parents=True, exist_ok=True)
        for png in sorted(where.glob("[!_]*.png")):  # _*.png: single charts, for debugging
            with Image.open(png) as image:
                small = image.convert("RGB").quantize(colors=128)
                small.save(Path(target) / png.name, optimize=True)
        shutil.rmtree(where, ignore_errors=True)
