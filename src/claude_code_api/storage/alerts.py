"""Budget alerts at 50 %, 80 % and 100 % of a project's monthly token limit.

The budget manager records each alert once per threshold per period (a unique constraint makes
that hold across processes) and hands it to an :class:`AlertNotifier`, which logs it and POSTs it
to ``CCAPI_ALERT_WEBHOOK_URL`` in a background task. A failing webhook is logged and otherwise
ignored: it never breaks or delays a request.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, Protocol

import httpx

log = logging.getLogger(__name__)

#: Percent of the monthly limit at which an alert fires.
THRESHOLDS: tuple[int, ...] = (50, 80, 100)


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    """One threshold crossing."""

    project_id: str
    period_start: date
    threshold: int
    used_tokens: int
    monthly_limit: int
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the webhook body, with ``"type": "budget_alert"``)."""
        data = asdict(self)
        data["period_start"] = self.period_start.isoformat()
        data["created_at"] = self.created_at.isoformat() + "Z"
        data["type"] = "budget_alert"
        return data


def crossed(before: int, after: int, limit: int) -> list[int]:
    """Thresholds crossed when usage went from ``before`` to ``after`` tokens.

    >>> crossed(40, 85, 100)
    [50, 80]
    """
    if limit <= 0:  # a zero budget: the first token spent crosses every threshold
        return list(THRESHOLDS) if before <= 0 < after else []
    return [t for t in THRESHOLDS if before * 100 < t * limit <= after * 100]


class AlertSink(Protocol):
    """Where recorded alerts go (the webhook notifier, or a list in tests)."""

    def notify(self, alert: BudgetAlert) -> None:
        """Deliver ``alert`` without blocking the caller."""


class AlertNotifier:
    """Logs alerts and POSTs them to a webhook from background tasks."""

    def __init__(self, webhook_url: str | None = None, *, timeout: float = 5.0) -> None:
        self.webhook_url = webhook_url
        self.timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, alert: BudgetAlert) -> None:
        """Log the alert and schedule the webhook POST (if configured)."""
        log.warning(
            "budget alert: project %s reached %d%% of its monthly limit (%d/%d tokens)",
            alert.project_id,
            alert.threshold,
            alert.used_tokens,
            alert.monthly_limit,
        )
        if not self.webhook_url:
            return
        task = asyncio.get_running_loop().create_task(self._post(self.webhook_url, alert))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, alert: BudgetAlert) -> None:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(url, json=alert.to_dict())
                response.raise_for_status()
        except Exception as exc:  # the webhook must never break anything
            log.warning("budget alert webhook failed: %s", type(exc).__name__)

    async def aclose(self, timeout: float = 5.0) -> None:
        """Wait (bounded) for webhook deliveries still in flight."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
