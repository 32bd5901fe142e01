"""Run in a separate OS process: N concurrent reservations; prints how many were admitted.

Usage: python -m tests.storage.reserve_worker URL PROJECT ATTEMPTS START_AT_EPOCH
"""

from __future__ import annotations

import asyncio
import sys
import time

from claude_code_api.errors import BudgetExceededError
from claude_code_api.storage import BudgetManager, Database


async def main(url: str, project: str, attempts: int, start_at: float) -> int:
    db = Database.from_url(url)
    manager = BudgetManager(db)
    await db.ping()  # open a connection before the start line
    await asyncio.sleep(max(0.0, start_at - time.time()))

    async def attempt() -> bool:
        try:
            await manager.reserve(project, 100)
        except BudgetExceededError:
            return False
        return True

    admitted = sum(await asyncio.gather(*(attempt() for _ in range(attempts))))
    await db.dispose()
    return admitted


if __name__ == "__main__":
    url, project, attempts, start_at = sys.argv[1:5]
    print(asyncio.run(main(url, project, int(attempts), float(start_at))))
