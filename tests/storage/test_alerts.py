"""Budget alerts: once per threshold per period, logged, POSTed to a webhook."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from claude_code_api.config import Settings
from claude_code_api.storage import AlertNotifier, BudgetManager, Database
from claude_code_api.storage.alerts import crossed
from tests.storage.conftest import FakeClock


class Receiver:
    """A tiny HTTP server on 127.0.0.1 that stores the JSON bodies POSTed to it."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_crossed_thresholds() -> None:
    assert crossed(0, 49, 100) == []
    assert crossed(49, 50, 100) == [50]
    assert crossed(40, 120, 100) == [50, 80, 100]
    assert crossed(80, 90, 100) == []
    assert crossed(0, 1, 0) == [50, 80, 100]
    assert crossed(1, 2, 0) == []


async def test_alerts_fire_once_per_threshold_and_post_to_webhook(
    db: Database,
    project: str,
    clock: FakeClock,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(alert_webhook_url=receiver.url)  # type: ignore[call-arg]
    manager = BudgetManager(db, settings, clock=clock)
    await manager.set_budget(project, 1000)
    with caplog.at_level(logging.WARNING, logger="claude_code_api.storage.alerts"):
        for tokens in (400, 150, 100, 100, 300):  # 400, 550 (50%), 650, 750, 1050 (80+100%)
            reservation = await manager.reserve(project, 0)
            await manager.settle(reservation, tokens)
        # A second manager (think: another replica) crossing nothing new records nothing.
        other = BudgetManager(db, settings, clock=clock)
        await other.track_usage(project, "haiku", 5, 0.0)
    assert isinstance(manager.alerts, AlertNotifier)
    await manager.close()  # waits for the webhook deliveries
    recorded = await manager.list_alerts(project)
    assert [(a.threshold, a.used_tokens) for a in recorded] == [(50, 550), (80, 1050), (100, 1050)]
    assert sorted(b["threshold"] for b in receiver.bodies) == [50, 80, 100]
    body = next(b for b in receiver.bodies if b["threshold"] == 100)
    assert body == {
        "type": "budget_alert",
        "project_id": project,
        "period_start": "2025-03-01",
        "threshold": 100,
        "used_tokens": 1050,
        "monthly_limit": 1000,
        "created_at": "2025-03-14T12:30:00Z",
    }
    assert sum("reached 80%" in r.getMessage() for r in caplog.records) == 1


async def test_alerts_fire_again_next_month(db: Database, project: str, clock: FakeClock) -> None:
    sink: list[Any] = []

    class Sink:
        def notify(self, alert: Any) -> None:
            sink.append(alert)

    manager = BudgetManager(db, clock=clock, alerts=Sink())
    await manager.set_budget(project, 100)
    await manager.track_usage(project, "haiku", 60, 0.0)
    await manager.track_usage(project, "haiku", 10, 0.0)
    clock.now = datetime(2025, 4, 2)
    await manager.track_usage(project, "haiku", 55, 0.0)
    assert [(a.period_start.month, a.threshold) for a in sink] == [(3, 50), (4, 50)]


async def test_broken_webhook_never_breaks_a_request(
    db: Database, project: str, clock: FakeClock
) -> None:
    broken = Receiver(status=500)
    dead_url = "http://127.0.0.1:1/hook"  # nothing listens on port 1
    try:
        for n, url in enumerate((broken.url, dead_url)):
            settings = Settings(alert_webhook_url=url)  # type: ignore[call-arg]
            manager = BudgetManager(db, settings, clock=clock)
            pid = f"{project}-{n}"
            await manager.set_budget(pid, 10)
            reservation = await manager.reserve(pid, 10)
            await manager.settle(reservation, 10)  # crosses every threshold; must not raise
            assert isinstance(manager.alerts, AlertNotifier)
            await manager.alerts.aclose()
            assert len(await manager.list_alerts(pid)) == 3
        assert len(broken.bodies) == 3  # delivered, answered 500, ignored
    finally:
        broken.close()


async def test_failing_sink_is_contained(db: Database, project: str) -> None:
    class Exploding:
        def notify(self, alert: object) -> None:
            raise RuntimeError("boom")

    manager = BudgetManager(db, alerts=Exploding())
    await manager.set_budget(project, 10)
    await manager.track_usage(project, "haiku", 10, 0.0)
    assert (await manager.status(project)).used_tokens == 10
