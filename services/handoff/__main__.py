"""python -m services.handoff: the escalation notifier (fte.escalations → the teams)."""

import asyncio

from services.handoff.notifier import main

if __name__ == "__main__":
    asyncio.run(main())
